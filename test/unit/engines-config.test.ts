import { describe, expect, test } from "bun:test";
import { createHmac, randomBytes } from "node:crypto";
import { parseConfig } from "../../src/config/load.ts";
import { checkHostKey, hostFieldMatches, knownHostsName } from "../../src/docker/remote/known-hosts.ts";
import { formatLocalPorts, parseLocalPorts } from "../../src/docker/remote/remote-engine.ts";
import { workspaceMounts, workspaceVolume } from "../../src/core/workspace/spec.ts";
import { makeRecord } from "../helpers/records.ts";

function configError(text: string): string {
  try {
    parseConfig(text, "/tmp/config.yaml");
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected the config to be refused");
}

describe("engines: in config.yaml", () => {
  test("ssh://, tcp:// with tls and unix:// engines are read with their defaults; defaults.engine picks one", () => {
    const c = parseConfig(
      `engines:\n  buildbox:\n    host: "ssh://me@buildbox:2222"\n    identity_file: ~/.ssh/id_ed25519\n  tls:\n    host: tcp://10.0.0.2:2376\n    tls: { ca: /c/ca.pem, cert: /c/cert.pem, key: /c/key.pem }\n  other:\n    host: unix:///run/other.sock\ndefaults:\n  engine: buildbox\n`,
      "/tmp/config.yaml",
    );
    expect(c.engines.buildbox).toMatchObject({ host: "ssh://me@buildbox:2222", known_hosts_file: "~/.ssh/known_hosts", socket: "/var/run/docker.sock" });
    expect(c.engines.tls!.tls).toEqual({ ca: "/c/ca.pem", cert: "/c/cert.pem", key: "/c/key.pem" });
    expect(c.defaults.engine).toBe("buildbox");
    expect(parseConfig("", "/tmp/config.yaml").defaults.engine).toBe("local");
  });

  test("bad engines are refused naming the file, line and key", () => {
    expect(configError(`engines:\n  a:\n    host: "ssh://buildbox"\n`)).toMatch(/config\.yaml:3: engines\.a\.host: .*ssh:\/\/ needs the user/);
    expect(configError(`engines:\n  a:\n    host: "http://x"\n`)).toContain("engines.a.host");
    expect(configError(`engines:\n  local:\n    host: "ssh://a@b"\n`)).toContain("'local' is the engine of docker.host");
    expect(configError(`engines:\n  a:\n    host: "ssh://a@b"\n    tls: { ca: a, cert: b, key: c }\n`)).toContain("tls is for tcp:// engines only");
    expect(configError(`engines:\n  a:\n    host: "ssh://a@b:70000"\n`)).toContain("between 1 and 65535");
    expect(configError(`defaults:\n  engine: nowhere\n`)).toMatch(/config\.yaml:2: defaults\.engine: 'nowhere' is not a configured engine \(known: local\)/);
  });
});

describe("known_hosts", () => {
  const key = randomBytes(51);
  const line = (hosts: string, k = key) => `${hosts} ssh-ed25519 ${k.toString("base64")}\n`;

  test("the host's name is host, or [host]:port off port 22", () => {
    expect(knownHostsName("box", 22)).toBe("box");
    expect(knownHostsName("127.0.0.1", 2222)).toBe("[127.0.0.1]:2222");
  });

  test("a listed key is accepted; an unlisted host is unknown; another key for it is a mismatch; @revoked refuses", () => {
    expect(checkHostKey(line("[127.0.0.1]:2222"), "127.0.0.1", 2222, key)).toEqual({ ok: true });
    expect(checkHostKey(line("a,box,c"), "box", 22, key)).toEqual({ ok: true });
    expect(checkHostKey(line("box"), "box", 2222, key)).toMatchObject({ ok: false, reason: "unknown" });
    expect(checkHostKey(line("box", randomBytes(51)), "box", 22, key)).toMatchObject({ ok: false, reason: "mismatch" });
    expect(checkHostKey("@revoked " + line("box") + line("box"), "box", 22, key)).toMatchObject({ ok: false, reason: "revoked" });
    expect(checkHostKey("# comment\n\n", "box", 22, key)).toMatchObject({ ok: false, reason: "unknown" });
  });

  test("hashed names, wildcards and negation match as OpenSSH's do", () => {
    const salt = randomBytes(20);
    const hash = createHmac("sha1", salt).update("[10.0.0.5]:22022").digest("base64");
    expect(hostFieldMatches(`|1|${salt.toString("base64")}|${hash}`, "[10.0.0.5]:22022")).toBe(true);
    expect(hostFieldMatches(`|1|${salt.toString("base64")}|${hash}`, "10.0.0.5")).toBe(false);
    expect(hostFieldMatches("*.lan,!evil.lan", "build.lan")).toBe(true);
    expect(hostFieldMatches("*.lan,!evil.lan", "evil.lan")).toBe(false);
    expect(hostFieldMatches("[127.0.0.1]:2222", "[127.0.0.1]:2222")).toBe(true);
    expect(hostFieldMatches("[127.0.0.1]:2222", "1")).toBe(false);
  });
});

describe("a remote workspace's container", () => {
  test("mounts no path of this machine: /workspace and the home are volumes there", () => {
    const r = makeRecord({ name: "big" });
    const mounts = workspaceMounts(r, [{ type: "bind", source: "/host/git", target: "/x" }], true);
    expect(mounts.every((m) => m.type === "volume")).toBe(true);
    expect(mounts.map((m) => m.target)).toEqual(["/workspace", "/home/nexus"]);
    expect(mounts[0]!.source).toBe(workspaceVolume(r));
    expect(workspaceVolume(r)).toEndWith("-workspace");
    expect(workspaceMounts(r)[0]!.type).toBe("bind");
  });

  test("a checkpoint restore's new home volume keeps the workspace's /workspace volume", () => {
    expect(workspaceVolume({ homeVolume: "nexus-far-ab12cd-home" })).toBe("nexus-far-ab12cd-workspace");
    expect(workspaceVolume({ homeVolume: "nexus-far-ab12cd-home-0f9e8d" })).toBe("nexus-far-ab12cd-workspace");
  });

  test("which local port serves which container port survives in a label", () => {
    const ports = [{ containerPort: 22, hostPort: 32801 }, { containerPort: 8080, hostPort: 32802 }];
    expect(parseLocalPorts(formatLocalPorts(ports))).toEqual(ports);
    expect(parseLocalPorts("22=x,junk,8080=1")).toEqual([{ containerPort: 8080, hostPort: 1 }]);
    expect(parseLocalPorts(undefined)).toEqual([]);
  });
});
