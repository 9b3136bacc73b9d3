import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { expandHome, hostAlias, knownHostsLines, sshConfigBlock, writeSshFiles } from "../../src/core/ssh-files.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

/** Where a local engine publishes ports. */
const SSH_HOST = "127.0.0.1";
const at = { host: SSH_HOST };
import type { WorkspaceRecord } from "../../src/core/types.ts";
import { generateEd25519 } from "../../src/ssh/keys.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { makeRecord } from "../helpers/records.ts";

/** `ssh -G` prints the resolved client config for a host without connecting anywhere. */
function sshG(configFile: string, host: string): Record<string, string> {
  const r = spawnSync("ssh", ["-G", "-F", configFile, host], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ssh -G refused the config (exit ${r.status}): ${r.stderr.trim()}`);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split("\n")) {
    const i = line.indexOf(" ");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

describe("small helpers", () => {
  test("hostAlias", () => {
    expect(hostAlias("feature-auth")).toBe("nexus-feature-auth");
  });

  test("expandHome expands ~ and ~/ only", () => {
    expect(expandHome("~", "/home/u")).toBe("/home/u");
    expect(expandHome("~/.ssh/id.pub", "/home/u")).toBe("/home/u/.ssh/id.pub");
    expect(expandHome("/abs/~/x", "/home/u")).toBe("/abs/~/x");
    expect(expandHome("~other/x", "/home/u")).toBe("~other/x");
    expect(expandHome("rel", "/home/u")).toBe("rel");
  });
});

describe("knownHostsLines", () => {
  test("pins the alias and both published addresses to the key, without its comment", () => {
    const key = generateEd25519("comment-not-wanted");
    const line = knownHostsLines({ name: "w1", ports: { ssh: 32811, services: [] } }, key.publicKey, SSH_HOST);
    const [type, blob] = key.publicKey.split(" ");
    expect(line).toBe(`nexus-w1,[127.0.0.1]:32811,[localhost]:32811 ${type} ${blob}\n`);
  });

  test("ssh-keygen -F finds the key under each name", async () => {
    await using dir = tempDir("kh");
    const key = generateEd25519("x");
    const file = join(dir.path, "known_hosts");
    writeFileSync(file, knownHostsLines({ name: "w2", ports: { ssh: 32812, services: [] } }, key.publicKey, SSH_HOST));
    for (const host of ["nexus-w2", "[127.0.0.1]:32812", "[localhost]:32812"]) {
      const r = spawnSync("ssh-keygen", ["-F", host, "-f", file], { encoding: "utf8" });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(key.publicKey.split(" ")[1]!);
    }
    expect(spawnSync("ssh-keygen", ["-F", "[127.0.0.1]:32813", "-f", file]).status).not.toBe(0);
  });
});

describe("sshConfigBlock", () => {
  const paths = nexusPaths({ NEXUS_HOME: "/srv/nexus home" });

  test("has what ssh needs to reach the workspace", () => {
    const r = makeRecord({ name: "w3", ports: { ssh: 32821, services: [] }, forwardAgent: true });
    const block = sshConfigBlock(r, parseConfig("", "x.yaml"), nexusPaths({ NEXUS_HOME: "/srv/nx" }), at);
    expect(block.split("\n")).toEqual([
      "Host nexus-w3",
      `  HostName ${SSH_HOST}`,
      "  Port 32821",
      "  User nexus",
      "  ForwardAgent yes",
      "  HostKeyAlias nexus-w3",
      "  StrictHostKeyChecking accept-new",
      '  UserKnownHostsFile "/srv/nx/known_hosts"',
      "  ServerAliveInterval 30",
      '  IdentityFile "/srv/nx/id_ed25519"',
      "",
    ]);
  });

  test("forward agent needs both the workspace and the config to allow it", () => {
    const cfgOff = parseConfig("ssh:\n  connection:\n    forward_agent: false\n", "x.yaml");
    const cfgOn = parseConfig("", "x.yaml");
    const rOn = makeRecord({ forwardAgent: true });
    const rOff = makeRecord({ forwardAgent: false });
    expect(sshConfigBlock(rOn, cfgOff, paths, at)).toContain("ForwardAgent no");
    expect(sshConfigBlock(rOff, cfgOn, paths, at)).toContain("ForwardAgent no");
    expect(sshConfigBlock(rOn, cfgOn, paths, at)).toContain("ForwardAgent yes");
  });

  test("client_options and an identity file override are added", () => {
    const cfg = parseConfig("ssh:\n  client_options: ['Compression=yes', 'LogLevel=ERROR']\n", "x.yaml");
    const block = sshConfigBlock(makeRecord(), cfg, paths, { ...at, identityFile: "/keys/mine" });
    expect(block).toContain('  IdentityFile "/keys/mine"\n');
    expect(block).toContain("  Compression yes\n");
    expect(block).toContain("  LogLevel ERROR\n");
  });

  test("ssh.connection.* and client_options shape what ssh reads (client_options win: ssh takes an option's first value)", async () => {
    await using dir = tempDir("sshcfg");
    const p = nexusPaths({ NEXUS_HOME: dir.path });
    const file = join(dir.path, "ssh_config");
    const yaml = [
      "ssh:",
      "  connection: { server_alive_interval: 15, strict_host_key_checking: 'yes', user_known_hosts_file: /etc/nexus-team/known_hosts }",
      "  client_options: ['IdentitiesOnly=yes', 'ServerAliveCountMax=7', 'ConnectTimeout=9']",
      "",
    ].join("\n");
    writeFileSync(file, sshConfigBlock(makeRecord({ name: "w6" }), parseConfig(yaml, "x.yaml"), p, at));
    const g = sshG(file, "nexus-w6");
    expect(g.serveraliveinterval).toBe("15");
    expect(g.stricthostkeychecking).toBe("true");
    // The daemon's pins stay first (rotation rewrites them); the user's own file is read too.
    expect(g.userknownhostsfile).toBe(`${p.knownHosts} /etc/nexus-team/known_hosts`);
    expect(g.identitiesonly).toBe("yes");
    expect(g.serveralivecountmax).toBe("7");
    expect(g.connecttimeout).toBe("9");
    const overridden = parseConfig("ssh:\n  client_options: ['ServerAliveInterval=5']\n", "x.yaml");
    writeFileSync(file, sshConfigBlock(makeRecord({ name: "w6" }), overridden, p, at));
    expect(sshG(file, "nexus-w6").serveraliveinterval).toBe("5");
  });

  test("ssh -G reads the generated block as intended", async () => {
    await using dir = tempDir("sshcfg");
    const p = nexusPaths({ NEXUS_HOME: dir.path });
    const r = makeRecord({ name: "w4", ports: { ssh: 32824, services: [] }, forwardAgent: true });
    const file = join(dir.path, "ssh_config");
    writeFileSync(file, sshConfigBlock(r, parseConfig("", "x.yaml"), p, at));
    const g = sshG(file, "nexus-w4");
    expect(g.hostname).toBe("127.0.0.1");
    expect(g.port).toBe("32824");
    expect(g.user).toBe("nexus");
    expect(g.forwardagent).toBe("yes");
    expect(g.hostkeyalias).toBe("nexus-w4");
    expect(g.userknownhostsfile).toBe(p.knownHosts);
    expect(g.identityfile).toBe(p.clientKey);
  });

  test("a NEXUS_HOME with a space still gives ssh a valid config with the right file paths", async () => {
    // e.g. HOME=/Users/Jane Doe. ssh refuses the whole file (and so every ssh_config that
    // Includes it) when IdentityFile gets "extra arguments", and reads an unquoted
    // UserKnownHostsFile with a space as two files.
    await using dir = tempDir("sshcfg");
    const home = join(dir.path, "with space");
    const p = nexusPaths({ NEXUS_HOME: home });
    const file = join(dir.path, "ssh_config");
    writeFileSync(file, sshConfigBlock(makeRecord({ name: "w5" }), parseConfig("", "x.yaml"), p, at));
    const g = sshG(file, "nexus-w5");
    expect(g.identityfile).toBe(p.clientKey);
    expect(g.userknownhostsfile).toBe(p.knownHosts);
  });
});

describe("writeSshFiles", () => {
  test("writes known_hosts and ssh_config (0600) for live workspaces with keys only", async () => {
    await using dir = tempDir("sshfiles");
    const p = nexusPaths({ NEXUS_HOME: dir.path });
    const keyA = generateEd25519("a");
    const keyB = generateEd25519("b");
    const a = makeRecord({ name: "alive", ports: { ssh: 32831, services: [] } });
    const noKey = makeRecord({ name: "nokey", ports: { ssh: 32832, services: [] } });
    const going = makeRecord({ name: "going", status: "destroying", ports: { ssh: 32833, services: [] } });
    const keys = new Map<string, string>([
      [a.id, keyA.publicKey],
      [going.id, keyB.publicKey],
    ]);
    writeSshFiles([a, noKey, going], (r: WorkspaceRecord) => keys.get(r.id), parseConfig("", "x.yaml"), p, at);
    const known = readFileSync(p.knownHosts, "utf8");
    const cfg = readFileSync(p.sshConfig, "utf8");
    expect(known).toBe(knownHostsLines(a, keyA.publicKey, SSH_HOST));
    expect(cfg).toContain("Host nexus-alive\n");
    expect(cfg).not.toContain("nexus-nokey");
    expect(cfg).not.toContain("nexus-going");
    expect(cfg.startsWith("#")).toBe(true);
    expect(statSync(p.knownHosts).mode & 0o777).toBe(0o600);
    expect(statSync(p.sshConfig).mode & 0o777).toBe(0o600);
  });

  test("with no workspaces the files are emptied, not left stale", async () => {
    await using dir = tempDir("sshfiles");
    const p = nexusPaths({ NEXUS_HOME: dir.path });
    const r = makeRecord({ name: "old" });
    const key = generateEd25519("k").publicKey;
    writeSshFiles([r], () => key, parseConfig("", "x.yaml"), p, at);
    expect(readFileSync(p.knownHosts, "utf8")).not.toBe("");
    writeSshFiles([], () => key, parseConfig("", "x.yaml"), p, at);
    expect(readFileSync(p.knownHosts, "utf8")).toBe("");
    expect(readFileSync(p.sshConfig, "utf8")).not.toContain("Host ");
  });
});
