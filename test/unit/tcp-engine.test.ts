// tcp:// engines without an engine: what the registry says about them (TLS or not), the TLS files
// checked, the attach stream's framing, and the relay script's syntax.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DockerEngine } from "../../src/docker/engine.ts";
import { EngineRegistry } from "../../src/docker/engines.ts";
import { FrameDemuxer, RELAY_SCRIPT } from "../../src/docker/remote/exec-relay.ts";
import type { RemoteEngine } from "../../src/docker/remote/remote-engine.ts";
import type { EngineDefinition } from "../../src/config/engines.ts";
import { expectError } from "../helpers/graph.ts";

function registry(engines: Record<string, EngineDefinition>, home = "/nonexistent"): EngineRegistry {
  return new EngineRegistry({ engines, local: new DockerEngine({ host: "unix:///nonexistent.sock", env: {} }), home, userHome: home, env: {} });
}

const known = { known_hosts_file: "~/.ssh/known_hosts", socket: "/var/run/docker.sock" };

describe("tcp:// engines in the registry", () => {
  test("with TLS: remote, workspaces allowed; without: remote, listed, workspaces refused with a reason and a suggestion", () => {
    const r = registry({
      tls: { host: "tcp://10.0.0.2:2376", tls: { ca: "/c/ca.pem", cert: "/c/cert.pem", key: "/c/key.pem" }, ...known },
      plain: { host: "tcp://10.0.0.2:2375", ...known },
    });
    expect(r.info("tls")).toEqual({ name: "tls", host: "tcp://10.0.0.2:2376", remote: true, workspaces: true });
    const plain = r.info("plain");
    expect(plain).toMatchObject({ remote: true, workspaces: false });
    expect(plain.refusal?.message).toContain("without TLS");
    expect(plain.refusal?.suggestion).toContain("engines.plain");
    expect(plain.refusal?.suggestion).toContain("ssh://");
    expect(r.isRemote("tls")).toBe(true);
  });

  test("TLS files that cannot be read are BACKEND_UNAVAILABLE naming the key to fix", async () => {
    const r = registry({ tls: { host: "tcp://127.0.0.1:9", tls: { ca: "/nonexistent/ca.pem", cert: "/c/cert.pem", key: "/c/key.pem" }, ...known } });
    const e = await expectError(Promise.resolve().then(() => r.get("tls")), "BACKEND_UNAVAILABLE");
    expect(e.suggestion).toContain("engines.tls.tls");
  });

  test("an engine nobody answers for is BACKEND_UNAVAILABLE naming it, with a suggestion; a bind mount is refused before any request", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tcp-unit-"));
    try {
      for (const f of ["ca.pem", "cert.pem", "key.pem"]) writeFileSync(join(dir, f), "not a pem\n");
      const r = registry({ tls: { host: "tcp://127.0.0.1:9", tls: { ca: join(dir, "ca.pem"), cert: join(dir, "cert.pem"), key: join(dir, "key.pem") }, ...known } });
      const engine = r.get("tls") as RemoteEngine;
      expect(engine.tunnel.publishes).toBe(false);
      const e = await expectError(engine.ping(), "BACKEND_UNAVAILABLE");
      expect(e.message).toContain("Engine 'tls' (tcp://127.0.0.1:9)");
      expect(e.suggestion).toBeTruthy();
      const spec = { image: "x", labels: {}, env: [], publish: [], memoryBytes: 1, mounts: [{ type: "bind" as const, source: dir, target: "/x" }] };
      await expectError(engine.createContainer(spec), "INVALID_ARGUMENT");
      r.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the exec relay", () => {
  const frame = (stream: number, text: string) => {
    const payload = Buffer.from(text);
    const head = Buffer.alloc(8);
    head[0] = stream;
    head.writeUInt32BE(payload.length, 4);
    return Buffer.concat([head, payload]);
  };

  test("the attach stream's frames are split whatever the chunking; stdout and stderr apart", () => {
    const all = Buffer.concat([frame(1, "hello "), frame(2, "oops"), frame(1, ""), frame(1, "world")]);
    for (const size of [1, 3, 8, 9, all.length]) {
      const got: Array<[number, string]> = [];
      const d = new FrameDemuxer((s, p) => got.push([s, p.toString()]));
      for (let i = 0; i < all.length; i += size) d.push(all.subarray(i, i + size));
      expect(got).toEqual([
        [1, "hello "],
        [2, "oops"],
        [1, "world"],
      ]);
    }
  });

  test("the relay script is valid python3 (when python3 is here)", () => {
    const r = spawnSync("python3", ["-c", `import ast,sys; ast.parse(sys.stdin.read())`], { input: RELAY_SCRIPT, encoding: "utf8" });
    if (r.error) return; // no python3 on this machine: the container has it
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
