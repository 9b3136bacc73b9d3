// The user's ssh-agent through the compiled binary: the CLI hands SSH_AUTH_SOCK to the daemon, so
// the agent's keys are authorized at create and at every start (restart too), exec sees the agent,
// and the daemon's own agent-forwarding connection never counts as someone keeping the workspace awake.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E } from "../helpers/cli.ts";

slowTests();

const root = tempDir("e2e-agent");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const agentSock = join(root.path, "agent.sock");
const agentKey = join(root.path, "agent_ed25519");
let agent: ChildProcess;

const nexus = nexusRunner({ home, cwd: repo, env: { SSH_AUTH_SOCK: agentSock } });

/** Logs in with nothing but the agent's key (no config, no identity file), pinned host key checked. */
function loginWithAgentKeyOnly(): number | null {
  const port = JSON.parse(nexus(["status", "ag", "--json"]).stdout).ports.ssh;
  const args = ["-F", "/dev/null", "-p", String(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${join(home, "known_hosts")}`, "-o", "HostKeyAlias=nexus-ag", "-o", "IdentitiesOnly=yes", "-i", `${agentKey}.pub`, "nexus@127.0.0.1", "true"];
  return spawnSync("ssh", args, { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, timeout: 30_000 }).status;
}

beforeAll(async () => {
  requireE2E();
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "e2e-agent-key", "-f", agentKey]);
  agent = spawn("ssh-agent", ["-D", "-a", agentSock], { stdio: "ignore" });
  await until("ssh-agent listens", () => existsSync(agentSock));
  execFileSync("ssh-add", [agentKey], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: "ignore" });
  const created = nexus(["create", "ag"]);
  if (created.code !== 0) throw new Error(`create failed: ${created.stderr}`);
}, 600_000);

afterAll(async () => {
  nexus(["daemon", "stop"]);
  agent?.kill();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("the user's agent", () => {
  test("its key is authorized at create, and still after 'nexus restart' (a restart is a start too)", () => {
    expect(loginWithAgentKeyOnly()).toBe(0);
    expect(nexus(["restart", "ag", "--timeout", "1"]).code).toBe(0);
    expect(loginWithAgentKeyOnly()).toBe(0);
  });

  test("exec sees the agent; the daemon's connection forwarding it keeps nothing awake", () => {
    const r = nexus(["exec", "ag", "--", "ssh-add", "-l"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("e2e-agent-key");
    expect(JSON.parse(nexus(["status", "ag", "--json"]).stdout).idle.keptAwakeBy).toEqual([]);
    expect(nexus(["status", "ag"]).stdout).toMatch(/ {2}idle {9}nothing keeps it awake; idle for \d+s, pauses after 30m without activity\n/);
  });

  test("an outside SSH connection does keep it awake, and status says so", async () => {
    const ssh = spawn("ssh", ["-F", join(home, "ssh_config"), "-o", "BatchMode=yes", "nexus-ag", "sleep 8"], { stdio: "ignore", env: { ...process.env, SSH_AUTH_SOCK: "" } });
    try {
      const text = await until("status sees the connection", () => nexus(["status", "ag"]).stdout, (t) => t.includes("kept awake by"));
      expect(text).toContain("  idle         kept awake by 1 SSH connection\n");
    } finally {
      ssh.kill();
    }
  });
});
