// The secrets tmpfs (/run/nexus/secrets) is 0700 and the workspace user's after every way its
// container starts again: nexus restart, nexus stop + start, `docker restart` behind the daemon's
// back, an engine restart (a private dockerd, root only) — not only at its first start. runc gives a
// tmpfs the mode of the folder beneath it, so it came back 0755 (secrets.ts, secretsMountPoint).
// The mode is read with `docker exec` (the engine's view, before the daemon writes anything), the
// secret file's through the daemon's exec.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { containerUser } from "../../src/core/container-user.ts";
import type { Services } from "../../src/daemon/services.ts";
import { buildServices } from "../../src/daemon/services.ts";
import { parseConfig } from "../../src/config/load.ts";
import { silentLogger } from "../../src/core/log.ts";
import { contextHash, DEFAULT_BASE_IMAGE, DockerEngine } from "../../src/docker/engine.ts";
import { tar } from "../../src/docker/tar.ts";
import { nexusPaths } from "../../src/store/paths.ts";
import { docker, engineAnswers, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { serviceGraph } from "../helpers/graph.ts";
import { PrivateDockerd, privateDockerdUnavailable } from "../helpers/private-dockerd.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const root = tempDir("secrets-mode");
const home = join(root.path, "nexus");
const secretFile = join(root.path, "token.txt");
const TOKEN = `tok-${process.pid}-Mq4`;
writeFileSync(secretFile, `${TOKEN}\n`);
const CONFIG = `secrets:\n  named:\n    TOKEN:\n      source: file\n      path: ${secretFile}\n`;
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n" });
const user = containerUser({ uid: process.getuid!(), gid: process.getgid!() });
/** What the folder must be: 0700, the workspace user's (the one the secrets are written as, over SSH). */
const RIGHT = `700 ${user.uid}:${user.gid}`;

const noPrivateEngine = privateDockerdUnavailable();
if (noPrivateEngine) console.warn(`secrets-mode.test: the engine-restart case is skipped: ${noPrivateEngine}`);

let s: Services;
const watching = new AbortController();
const containerId = () => s.store.findByName("mode")!.containerId!;
/** The folder's mode and owner as the engine left it: `docker exec`, as the container's root. */
const modeByEngine = (run: (...args: string[]) => string = docker, id = containerId()) => run("exec", id, "stat", "-c", "%a %u:%g", "/run/nexus/secrets").trim();
const inside = async (script: string) => {
  const r = await s.workspaces.execCollect("mode", { command: "sh", args: ["-c", script] });
  if (r.exitCode !== 0) throw new Error(`'${script}' exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout.trim();
};
/** Through the daemon: the secret arrived (written again after a start), the file 0600, the folder still 0700. */
const secretsThere = async () => {
  expect(await until("the secret reaches exec again", () => inside('printf %s "$TOKEN"'), (v) => v === TOKEN, { timeoutMs: 120_000, intervalMs: 500, retryErrors: true })).toBe(TOKEN);
  expect(await inside("stat -c '%a %u' /run/nexus/secrets/env")).toBe(`600 ${user.uid}`);
  expect(await inside("stat -c '%a %u:%g' /run/nexus/secrets")).toBe(RIGHT);
};
const startedAt = (id = containerId()) => docker("inspect", "-f", "{{.State.StartedAt}}", id).trim();

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home, CONFIG);
  await s.workspaces.reconcile();
  s.workspaces.watchEngine(watching.signal);
  await s.workspaces.create({ name: "mode", path: repo });
}, 900_000);

afterAll(async () => {
  watching.abort();
  s?.workspaces.shutdown();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
}, 300_000);

describe("the secrets tmpfs stays 0700 and the workspace user's", () => {
  test("after create", async () => {
    expect(modeByEngine()).toBe(RIGHT);
    await secretsThere();
  }, 180_000);

  test("after nexus restart", async () => {
    await s.workspaces.restart("mode");
    expect(modeByEngine()).toBe(RIGHT);
    await secretsThere();
  }, 300_000);

  test("after nexus stop and start", async () => {
    await s.workspaces.stop("mode");
    await s.workspaces.start("mode");
    expect(modeByEngine()).toBe(RIGHT);
    await secretsThere();
  }, 300_000);

  test("after docker restart of its container, which the daemon did not ask for", async () => {
    const before = startedAt();
    docker("restart", "-t", "1", containerId());
    expect(startedAt()).not.toBe(before);
    // The engine's own start: nothing of the daemon ran in the container yet.
    expect(modeByEngine()).toBe(RIGHT);
    await secretsThere();
  }, 300_000);

  test("a container made before the fix (0755 beneath the tmpfs) is put right before its secrets are written, and for good at its next nexus start", async () => {
    // What an older daemon left: the folder beneath the tmpfs 0755 (runc made it at the first start).
    const old = tar([{ name: "run/nexus/secrets", type: "dir", mode: 0o755, uid: user.uid, gid: user.gid }]);
    const cp = spawnSync("docker", ["cp", "-", `${containerId()}:/`], { input: old });
    expect(cp.status).toBe(0);
    docker("restart", "-t", "1", containerId());
    expect(modeByEngine()).toBe(`755 ${user.uid}:${user.gid}`); // the engine alone cannot know better
    await secretsThere(); // the daemon's write of the secrets chmods it first
    await s.workspaces.restart("mode"); // a nexus start writes the folder beneath 0700 again
    docker("restart", "-t", "1", containerId());
    expect(modeByEngine()).toBe(RIGHT);
  }, 420_000);
});

/** The workspace image of this build, made on the machine's engine when missing (then copied into the private one). */
async function workspaceImage(): Promise<string> {
  const tag = `nexus-workspace:${contextHash(DEFAULT_BASE_IMAGE)}`;
  if (spawnSync("docker", ["image", "inspect", tag], { stdio: "ignore" }).status === 0) return tag;
  return await new DockerEngine({ env: process.env }).ensureWorkspaceImage(DEFAULT_BASE_IMAGE, () => {});
}

describe("after an engine restart", () => {
  test.skipIf(noPrivateEngine !== undefined)(
    "the engine starts the container again (unless-stopped) with the tmpfs 0700 and the workspace user's",
    async () => {
      await using engine = await PrivateDockerd.start({ images: [DEFAULT_BASE_IMAGE, await workspaceImage()] });
      const otherHome = join(root.path, "nexus-private");
      const p = buildServices({ paths: nexusPaths({ NEXUS_HOME: otherHome }), config: parseConfig(CONFIG, join(otherHome, "config.yaml")), env: { HOME: process.env.HOME, DOCKER_HOST: engine.host }, log: silentLogger });
      try {
        await p.workspaces.reconcile();
        await p.workspaces.create({ name: "eng", path: repo });
        const id = p.store.findByName("eng")!.containerId!;
        const run = (...args: string[]) => engine.docker(...args);
        expect(modeByEngine(run, id)).toBe(RIGHT);
        const before = run("inspect", "-f", "{{.State.StartedAt}}", id);
        await engine.restart();
        await until("the engine starts the container again", () => run("inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", id), (v) => v.startsWith("true ") && !v.endsWith(before), { timeoutMs: 120_000, intervalMs: 500, retryErrors: true });
        expect(modeByEngine(run, id)).toBe(RIGHT);
      } finally {
        p.workspaces.shutdown();
      }
    },
    900_000,
  );
});
