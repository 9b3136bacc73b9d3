// SSH access with the real OpenSSH client and a real ssh-agent against a real sshd in a real container.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { NexusError } from "../../src/core/errors.ts";
import { silentLogger } from "../../src/core/log.ts";
import { buildServices, type Services } from "../../src/daemon/services.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { engineAnswers, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("ssh");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const keys = join(root.path, "keys");
const agentSock = join(root.path, "agent.sock");
const lateKey = join(keys, "late_ed25519");
let agent: ChildProcess;
let s: Services;

const sshArgs = (extra: string[] = []) => ["-F", join(home, "ssh_config"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", ...extra];

function ssh(args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync("ssh", args, { encoding: "utf8", env: { ...process.env, SSH_AUTH_SOCK: undefined, ...env }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function keygen(file: string, comment: string): void {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
}

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  mkdirSync(keys, { recursive: true });
  keygen(join(keys, "agent_ed25519"), "agent-key");
  agent = spawn("ssh-agent", ["-D", "-a", agentSock], { stdio: "ignore" });
  await until("ssh-agent listens", () => existsSync(agentSock));
  execFileSync("ssh-add", [join(keys, "agent_ed25519")], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: "ignore" });
  mkdirSync(home, { recursive: true, mode: 0o700 });
  // ssh.injection.sources names a key that does not exist yet: it must work after a restart once it does.
  const config = `ssh:\n  injection:\n    sources: ["${lateKey}.pub"]\n  connection:\n    strict_host_key_checking: "yes"\n`;
  s = buildServices({ paths: nexusPaths({ NEXUS_HOME: home }), config: parseConfig(config, join(home, "config.yaml")), env: { HOME: process.env.HOME }, log: silentLogger });
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "keys", path: repo, agentSocket: agentSock });
}, 600_000);

afterAll(async () => {
  s?.workspaces.shutdown();
  agent?.kill();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("host keys", () => {
  test("GET /ssh's fingerprint is the one ssh-keyscan sees, known before anyone connected", () => {
    const info = s.workspaces.sshInfo("keys");
    expect(info).toMatchObject({ enabled: true, host: "localhost", user: "nexus", forwardAgent: true });
    expect(info.connectionCommand).toBe(`ssh -F ${join(home, "ssh_config")} nexus-keys`);
    const scanned = execFileSync("sh", ["-c", `ssh-keyscan -t ed25519 -p ${info.port} 127.0.0.1 2>/dev/null | ssh-keygen -lf -`], { encoding: "utf8" });
    expect(scanned.split(/\s+/)[1]).toBe(info.hostKeyFingerprint);
  });

  test("GET /ssh's connectionCommand works as printed (no host-key prompt, no known_hosts of the user's)", () => {
    const { connectionCommand } = s.workspaces.sshInfo("keys");
    const r = spawnSync("sh", ["-c", `${connectionCommand} echo ok`], { encoding: "utf8", input: "", env: { ...process.env, SSH_AUTH_SOCK: undefined }, timeout: 30_000 });
    expect({ code: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: "ok\n", stderr: "" });
  });

  test("plain ssh with the generated config works with StrictHostKeyChecking yes", () => {
    const r = ssh([...sshArgs(), "nexus-keys", "echo $USER@$(hostname)"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("nexus@keys\n");
    const block = s.workspaces.sshConfig("keys", { includeHostKey: true });
    expect(block.hostEntryName).toBe("nexus-keys");
    expect(block.configContent).toContain("StrictHostKeyChecking yes");
    expect(block.configContent).toContain("# nexus-keys,");
  });

  test("scp and rsync work with the generated config (rsync is in the image)", () => {
    const src = join(root.path, "copied.txt");
    writeFileSync(src, "copied\n");
    const opts = ["-F", join(home, "ssh_config"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"];
    const scp = spawnSync("scp", [...opts, src, "nexus-keys:/tmp/by-scp.txt"], { encoding: "utf8", env: { ...process.env, SSH_AUTH_SOCK: undefined } });
    expect(scp.stderr).toBe("");
    expect(ssh([...sshArgs(), "nexus-keys", "cat /tmp/by-scp.txt; command -v rsync"]).stdout).toBe("copied\n/usr/bin/rsync\n");
    // The host side of rsync is the user's: where it is installed, a real transfer goes through.
    if (spawnSync("rsync", ["--version"]).status === 0) {
      const rsync = spawnSync("rsync", ["-e", `ssh ${opts.map((o) => `'${o}'`).join(" ")}`, src, "nexus-keys:/tmp/by-rsync.txt"], { encoding: "utf8", env: { ...process.env, SSH_AUTH_SOCK: undefined } });
      expect(rsync.stderr).toBe("");
      expect(rsync.status).toBe(0);
      expect(ssh([...sshArgs(), "nexus-keys", "cat /tmp/by-rsync.txt"]).stdout).toBe("copied\n");
    }
  });

  test("rotation changes the fingerprint at restart; the old key is no longer accepted", async () => {
    const before = s.workspaces.sshInfo("keys").hostKeyFingerprint;
    const oldKnownHosts = readFileSync(join(home, "known_hosts"), "utf8");
    const r = await s.workspaces.rotateKeys("keys");
    expect(r.nextFingerprint).not.toBe(before);
    expect(s.workspaces.sshInfo("keys").hostKeyFingerprint).toBe(before); // not before the restart
    await s.workspaces.restart("keys", { timeoutSeconds: 1, agentSocket: agentSock });
    const after = s.workspaces.sshInfo("keys");
    expect(after.hostKeyFingerprint).toBe(r.nextFingerprint);
    expect(after.rotationPending).toBe(false);
    expect(readFileSync(join(home, "known_hosts"), "utf8")).not.toBe(oldKnownHosts);
    expect(ssh([...sshArgs(), "nexus-keys", "true"]).code).toBe(0);
    // A client that still pins the old key refuses the connection.
    const stale = join(root.path, "stale_known_hosts");
    writeFileSync(stale, oldKnownHosts);
    const refused = ssh([...sshArgs(["-o", `UserKnownHostsFile=${stale}`]), "nexus-keys", "true"]);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain("HOST IDENTIFICATION HAS CHANGED");
  });
});

describe("user keys", () => {
  test("the agent's keys are authorized: the agent key alone logs in", () => {
    const port = String(s.workspaces.sshInfo("keys").port);
    const r = ssh(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-i", join(keys, "agent_ed25519"), "-p", port, "nexus@127.0.0.1", "true"]);
    expect(r.code).toBe(0);
  });

  test("a key added to ssh.injection.sources works after a restart", async () => {
    const port = String(s.workspaces.sshInfo("keys").port);
    const login = () => ssh(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-i", lateKey, "-p", port, "nexus@127.0.0.1", "true"]).code;
    keygen(lateKey, "late-key");
    expect(login()).toBe(255);
    await s.workspaces.restart("keys", { timeoutSeconds: 1 });
    expect(login()).toBe(0);
  });

  test("password and root logins are refused", () => {
    const port = String(s.workspaces.sshInfo("keys").port);
    const base = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-p", port];
    expect(ssh([...base, "-o", "PreferredAuthentications=password,keyboard-interactive", "nexus@127.0.0.1", "true"]).code).toBe(255);
    const asRoot = ssh([...base, "-o", "IdentitiesOnly=yes", "-i", join(home, "id_ed25519"), "root@127.0.0.1", "true"]);
    expect(asRoot.code).toBe(255);
    expect(asRoot.stderr).toContain("Permission denied");
  });
});

describe("agent forwarding", () => {
  test("exec sees the user's agent, at the stable ~/.ssh/agent.sock too", async () => {
    const r = await s.workspaces.execCollect("keys", { command: "sh", args: ["-c", "ssh-add -l && SSH_AUTH_SOCK=$HOME/.ssh/agent.sock ssh-add -l"], agentSocket: agentSock });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.match(/agent-key/g)).toHaveLength(2);
  });

  test("an interactive login shell points SSH_AUTH_SOCK at ~/.ssh/agent.sock", () => {
    const r = ssh([...sshArgs(), "-A", "nexus-keys", "bash -lc 'echo $SSH_AUTH_SOCK; ssh-add -l'"], { SSH_AUTH_SOCK: agentSock });
    expect(r.stdout).toContain("/home/nexus/.ssh/agent.sock");
    expect(r.stdout).toContain("agent-key");
  });

  test("with forwarding off, no agent socket exists inside", async () => {
    await s.workspaces.update("keys", { forwardAgent: false });
    expect(s.workspaces.sshInfo("keys").forwardAgent).toBe(false);
    expect(readFileSync(join(home, "ssh_config"), "utf8")).toContain("ForwardAgent no");
    const r = await s.workspaces.execCollect("keys", { command: "sh", args: ["-c", 'echo "[$SSH_AUTH_SOCK]"; ssh-add -l'], agentSocket: agentSock });
    expect(r.stdout).toContain("[]");
    expect(r.exitCode).not.toBe(0);
    await s.workspaces.update("keys", { forwardAgent: true });
  });

  test("the daemon's own agent-forwarding connection (exec with the CLI's agent) does not keep the workspace awake", async () => {
    await s.workspaces.update("keys", { idleTimeout: 1 });
    try {
      expect((await s.workspaces.execCollect("keys", { command: "ssh-add", args: ["-l"], agentSocket: agentSock })).exitCode).toBe(0);
      expect((await s.workspaces.status("keys")).idle.keptAwakeBy).toEqual([]);
      // Idle after its 1 s: the first look past that pauses it (a connection kept open would keep it awake for ever).
      expect(await until("the idle check pauses it", () => s.workspaces.checkIdle(), (paused) => paused.length > 0)).toEqual(["keys"]);
      await s.workspaces.resume("keys");
    } finally {
      await s.workspaces.update("keys", { idleTimeout: 0 });
    }
  });

  test("ssh info of an unknown workspace is WORKSPACE_NOT_FOUND", () => {
    expect(() => s.workspaces.sshInfo("nope")).toThrow(NexusError);
  });
});
