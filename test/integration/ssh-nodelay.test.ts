// Every pooled SSH connection to a workspace has sshd's side of its socket TCP_NODELAY, the extra
// ones of a burst included, which carry channels to the exec agent only (ssh/connect.ts says why that
// needs a session). Seen from sshd itself: at LogLevel DEBUG2 it logs "fd N setting TCP_NODELAY" where
// it sets it (misc.c set_nodelay), so after a burst every connection it accepted has that line.
// The workspace's sshd is switched to DEBUG2 in this test's own container (its config, then SIGHUP).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { loadOrCreateKeyPair } from "../../src/ssh/keys.ts";
import { SshPool, type SshTarget } from "../../src/ssh/pool.ts";
import { HostKeys } from "../../src/store/host-keys.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { docker, engineAnswers, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { serviceGraph } from "../helpers/graph.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const LONG = 240_000;
const root = tempDir("ssh-nodelay");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n" });
const RELEASE = "/tmp/nodelay-release";
let s: Services;
let containerId: string;
let target: SshTarget;
let pool: SshPool | undefined;

/** sshd's log since its last restart (SIGHUP): it writes to stderr, which the engine keeps. */
function sshdLogSinceRestart(): string {
  const r = spawnSync("docker", ["logs", containerId], { encoding: "utf8" });
  const text = `${r.stdout}${r.stderr}`;
  const restart = text.lastIndexOf("Received SIGHUP; restarting.");
  return restart < 0 ? "" : text.slice(restart);
}

const count = (text: string, re: RegExp) => text.match(re)?.length ?? 0;

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home);
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "nd", path: repo });
  const r = s.store.findByName("nd")!;
  containerId = r.containerId!;
  target = { host: s.docker.publishedHost, port: r.ports.ssh, username: "nexus", hostPublicKey: new HostKeys(nexusPaths({ NEXUS_HOME: home })).publicKey(r.id)! };
  // sshd re-executes itself on SIGHUP and reads its config again; connections open now keep their old level.
  docker("exec", containerId, "sh", "-c", "echo 'LogLevel DEBUG2' >> /etc/ssh/sshd_config");
  docker("kill", "--signal", "HUP", containerId);
  await until("sshd to listen again after SIGHUP", sshdLogSinceRestart, (log) => log.includes("Server listening on"), { timeoutMs: LONG });
}, 900_000);

afterAll(async () => {
  pool?.closeAll();
  s?.workspaces.shutdown();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("pooled connections and Nagle", () => {
  test("every connection of a burst over the exec agent has sshd's socket set TCP_NODELAY", async () => {
    // Two channels per connection: five commands at once need three connections (the first takes the agent's spare channel).
    pool = new SshPool({ privateKey: loadOrCreateKeyPair(nexusPaths({ NEXUS_HOME: home }).clientKey, "test").privateKey, limits: { channelsPerConnection: 2, connections: 3 } });
    const p = pool;
    const key = "nodelay";
    await p.waitReady(key, target, LONG);
    // The first command starts the agent over an SSH session; the next ones go over it.
    expect((await p.execCommand(key, target, "true")).exitCode).toBe(0);
    await until("the exec agent to be ready", () => p.agents.state(key), (st) => st === "ready", { timeoutMs: LONG });
    // Commands that stay until released: the burst's connections are all open at once.
    const parents: Buffer[][] = [];
    const held = Array.from({ length: 5 }, (_, i) => {
      parents[i] = [];
      return p.execCommand(key, target, `until [ -e ${RELEASE} ]; do sleep 0.05; done; tr '\\0' ' ' < /proc/$PPID/cmdline`, { onStdout: (b) => void parents[i]!.push(b) });
    });
    await until("three pooled connections", () => p.openConnections(key), (n) => n === 3, { timeoutMs: LONG });
    docker("exec", containerId, "touch", RELEASE);
    expect((await Promise.all(held)).map((e) => e.exitCode)).toEqual([0, 0, 0, 0, 0]);
    // They ran under the agent: the extra connections carried agent channels (and no command's session).
    for (const out of parents) expect(Buffer.concat(out).toString()).toStartWith("python3 - start");
    const seen = await until(
      "as many TCP_NODELAY lines in sshd's log as connections it accepted",
      () => {
        const log = sshdLogSinceRestart();
        return { accepted: count(log, /Accepted publickey for /g), nodelay: count(log, /fd \d+ (setting|is) TCP_NODELAY/g) };
      },
      (c) => c.accepted >= 3 && c.nodelay === c.accepted,
      { timeoutMs: 30_000 },
    );
    expect(seen.accepted).toBeGreaterThanOrEqual(3);
  }, LONG);
});
