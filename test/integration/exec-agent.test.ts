// The exec agent against the real engine and a real sshd: after the first command starts it, exec
// goes over it (a channel to its socket on the pooled SSH connection) with the same environment,
// output, status, stdin and kill as an SSH session; a restart brings a new one with the new login
// (new secrets); another user of the container cannot reach its socket.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { docker, engineAnswers, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const LONG = 240_000;
const root = tempDir("exec-agent");
const home = join(root.path, "nexus");
const secretsDir = join(root.path, "host-secrets");
mkdirSync(secretsDir, { recursive: true });
writeFileSync(join(secretsDir, "token"), "first-value\n");
const CONFIG = `secrets:\n  named:\n    AGENT_TOKEN:\n      source: file\n      path: ${secretsDir}/token\n`;
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n" });
let s: Services;

const exec = (command: string, args: string[], more: { cwd?: string; env?: Record<string, string>; stdin?: string; timeout?: number } = {}) => s.workspaces.execCollect("ag", { command, args, ...more });
/** Who ran the command: the agent (python3 - start ...) or sshd. */
const parent = async () => (await exec("sh", ["-c", 'tr "\\0" " " < /proc/$PPID/cmdline']) ).stdout;
const overAgent = () => until("a command to run under the exec agent", parent, (p) => p.startsWith("python3 - start /run/nexus/secrets/exec-agent/agent-"), { timeoutMs: LONG, intervalMs: 200 });
const envOf = (text: string) =>
  text
    .split("\n")
    .filter((l) => l && !/^(NEXUS_EXEC_ID|SSH_CLIENT|SSH_CONNECTION)=/.test(l))
    .sort();

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home, CONFIG);
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "ag", path: repo });
}, 900_000);

afterAll(async () => {
  s?.workspaces.shutdown();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("exec over the agent", () => {
  test("the first command goes over SSH and starts the agent; the next ones go over it", async () => {
    expect(await overAgent()).toContain("python3 - start");
  }, LONG);

  test("the environment is an SSH login's, secrets included", async () => {
    await overAgent();
    const viaAgent = (await exec("env", [])).stdout;
    const viaSsh = (await s.workspaces.inspect("ag", "export NEXUS_EXEC_ID=x; cd /workspace && exec env")).stdout;
    expect(envOf(viaAgent)).toEqual(envOf(viaSsh));
    expect(viaAgent).toContain("AGENT_TOKEN=first-value\n");
    expect(viaAgent).toMatch(/^NEXUS_EXEC_ID=[0-9a-f-]{36}$/m);
    // cwd and variables of the request; the user is the login's.
    const r = await exec("sh", ["-c", 'echo "$A|$(pwd)|$(id -un)"'], { cwd: "/tmp", env: { A: "a b" } });
    expect(r.stdout).toBe(`a b|/tmp|${(await s.workspaces.inspect("ag", "id -un")).stdout.trim()}\n`);
  }, LONG);

  test("output, exit status, stdin and errors read as over SSH", async () => {
    await overAgent();
    expect(await exec("sh", ["-c", "echo out; echo err >&2; exit 7"])).toMatchObject({ exitCode: 7, stdout: "out\n", stderr: "err\n" });
    expect(await exec("wc", ["-c"], { stdin: "x".repeat(300_000) })).toMatchObject({ exitCode: 0, stdout: "300000\n" });
    const big = await exec("head", ["-c", "3000000", "/dev/zero"]);
    expect(big.stdout.length).toBe(3_000_000);
    const missing = await exec("no-such-program", []);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain("no-such-program: not found");
    expect((await exec("sh", ["-c", "kill -KILL $$"])).signal).toBe("KILL");
  }, LONG);

  test("a timeout kills the command and what it started", async () => {
    await overAgent();
    const err = await expectError(exec("sh", ["-c", "sleep 4242 & setsid sleep 4343 & wait"], { timeout: 2 }), "INVALID_STATE");
    expect(err.message).toContain("timeout");
    await until("no sleep of that command left", async () => (await s.workspaces.inspect("ag", "ps -eo args")).stdout, (ps) => !/sleep 4[23]4[23]/.test(ps), { timeoutMs: LONG });
  }, LONG);

  test("another user of the container cannot reach the agent's socket", async () => {
    await overAgent();
    const id = s.store.findByName("ag")!.containerId!;
    const probe = "import glob,socket\nfor p in glob.glob('/run/nexus/secrets/exec-agent/*.sock') or ['/run/nexus/secrets/exec-agent/x.sock']:\n  s=socket.socket(socket.AF_UNIX)\n  try:\n    s.connect(p); print('connected')\n  except OSError as e:\n    print(e.errno)\n";
    expect(docker("exec", "-u", "4321:4321", id, "python3", "-c", probe).trim()).toBe("13"); // EACCES: the agent's folder is the workspace user's alone
  }, LONG);

  test("after a restart, a new agent with the new login (the changed secret)", async () => {
    await overAgent();
    writeFileSync(join(secretsDir, "token"), "second-value\n");
    await s.workspaces.stop("ag");
    await s.workspaces.start("ag");
    expect((await exec("sh", ["-c", 'echo "$AGENT_TOKEN"'])).stdout).toBe("second-value\n");
    await overAgent();
    expect((await exec("sh", ["-c", 'echo "$AGENT_TOKEN"'])).stdout).toBe("second-value\n");
  }, LONG);
});
