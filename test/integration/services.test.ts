// Hooks and services of a project (.nexus/workspace.yaml) against the real engine and a real sshd:
// hook order, health checks, restart after a crash, logs, on-demand hooks, failures, bad YAML.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import type { LogEntry } from "../../src/core/services.ts";
import type { Services } from "../../src/daemon/services.ts";
import { docker, engineAnswers, leftovers, removeLeftovers } from "../helpers/docker.ts";
import { silentLogger } from "../../src/core/log.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { git, makeRepo, tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("services");
const home = join(root.path, "nexus");

const PROJECT = `# a web server with a health path, and a worker that depends on it
env:
  GREETING: hello
hooks:
  pre-start: echo pre-start >> ~/markers
  post-start:
    - echo "post-start $GREETING" >> ~/markers
  pre-stop: echo pre-stop >> ~/markers
  post-stop: echo "post-stop $(id -u)" >> ~/markers
  health-check: curl -fsS localhost:8000/health.txt
services:
  worker:
    command: echo worker >> ~/markers; exec sleep infinity
    depends_on: [web]
    health: { command: "test -s ~/markers", interval: 1s }
  web:
    command: echo web >> ~/markers; exec python3 -m http.server 8000
    port: 8000
    health: { http: /health.txt, interval: 1s, retries: 2 }
`;

const repo = makeRepo(join(root.path, "repo"), { ".nexus/workspace.yaml": PROJECT, "health.txt": "ok\n" });
let s: Services;

const services = (): Services => serviceGraph(home);


const run = async (name: string, script: string) => (await s.workspaces.execCollect(name, { command: "sh", args: ["-c", script] })).stdout;
const markers = async (name: string) => (await run(name, "cat ~/markers 2>/dev/null")).trim().split("\n").filter(Boolean);
const service = async (name: string, svc: string) => (await s.workspaces.listServices(name)).services.find((x) => x.name === svc)!;


beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = services();
  await s.workspaces.reconcile();
}, 600_000);

afterAll(async () => {
  s?.workspaces.shutdown();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("a project with hooks and two services", () => {
  test("create runs pre-start, starts web then worker (its dependant), waits until healthy, then post-start", async () => {
    const phases: string[] = [];
    const made = await s.workspaces.create({ name: "svc", path: repo }, (p) => phases.push(p.message));
    expect(made.status).toBe("running");
    expect(made.services.map((x) => [x.name, x.status])).toEqual([
      ["web", "healthy"],
      ["worker", "healthy"],
    ]);
    const web = made.services.find((x) => x.name === "web")!;
    expect(web.url).toMatch(/^http:\/\/localhost:\d+$/);
    // The service's port was published at create, under the service's name, and answers on the host.
    expect(made.ports.find((p) => p.containerPort === 8000)?.name).toBe("web");
    expect(await (await fetch(`${web.url!.replace("localhost", "127.0.0.1")}/health.txt`)).text()).toBe("ok\n");
    expect(await markers("svc")).toEqual(["pre-start", "web", "worker", "post-start hello"]);
    expect(phases.some((m) => m.includes("pre-start"))).toBe(true);
  });

  test("services lists each with status, port, URL, health check and dependencies; status shows them too", async () => {
    const { services: list } = await s.workspaces.listServices("svc");
    expect(list.map((x) => x.name)).toEqual(["web", "worker"]);
    const web = list[0]!;
    expect(web).toMatchObject({ status: "healthy", containerPort: 8000, healthCheck: "/health.txt", dependsOn: [], restarts: 0 });
    expect(web.hint).toBeUndefined(); // it listens on 0.0.0.0, so the published port works
    expect(web.pid).toBeGreaterThan(0);
    expect(list[1]).toMatchObject({ status: "healthy", dependsOn: ["web"], healthCheck: "command: test -s ~/markers", containerPort: null, url: null });
    const st = await s.workspaces.status("svc");
    expect(st.ports.services.find((p) => p.containerPort === 8000)?.status).toBe("healthy");
    expect(st.services.map((x) => x.status)).toEqual(["healthy", "healthy"]);
  });

  test("an open connection to a published port keeps the workspace awake, and status says so", async () => {
    const web = await service("svc", "web");
    const sock = connect(web.hostPort!, "127.0.0.1");
    await new Promise((r) => sock.once("connect", r));
    try {
      const st = await until("the connection is seen", () => s.workspaces.status("svc"), (x) => x.idle.keptAwakeBy.length > 0);
      expect(st.idle.keptAwakeBy).toContain("1 connection to published ports");
    } finally {
      sock.destroy();
    }
  });

  test("a killed service process is restarted and becomes healthy again", async () => {
    const before = await service("svc", "web");
    await run("svc", `kill -9 ${before.pid}`);
    const after = await until("web restarted and healthy", () => service("svc", "web"), (x) => x.status === "healthy" && x.pid !== before.pid);
    expect(after.restarts).toBeGreaterThanOrEqual(1);
    expect(after.lastExitCode).toBe(137);
  });

  test("logs: the last lines with timestamps and levels, and follow streams new ones", async () => {
    const tail: LogEntry[] = [];
    await s.workspaces.serviceLogs("svc", "web", { tail: 500, follow: false }, (e) => tail.push(e));
    expect(tail.some((e) => e.level === "warn" && e.message.startsWith("starting: "))).toBe(true);
    expect(tail.some((e) => e.message.includes("exited with code 137; restarting"))).toBe(true);
    expect(tail.every((e) => /^\d{4}-\d\d-\d\dT/.test(e.timestamp))).toBe(true);
    const two: LogEntry[] = [];
    await s.workspaces.serviceLogs("svc", "web", { tail: 2, follow: false }, (e) => two.push(e));
    expect(two.length).toBe(2);
    // since: a duration back from now, or a timestamp.
    const recent: LogEntry[] = [];
    await s.workspaces.serviceLogs("svc", "web", { tail: 500, follow: false, since: "1h" }, (e) => recent.push(e));
    // The web server logs every probe, so the log may have grown since `tail` was read: nothing older than 1h is left out.
    expect(recent.length).toBeGreaterThanOrEqual(tail.length);
    const future: LogEntry[] = [];
    await s.workspaces.serviceLogs("svc", "web", { tail: 500, follow: false, since: new Date(Date.now() + 60_000).toISOString() }, (e) => future.push(e));
    expect(future).toEqual([]);
    await expectError(s.workspaces.serviceLogs("svc", "web", { tail: 5, follow: false, since: "yesterday-ish" }, () => {}), "INVALID_ARGUMENT");

    const followed: LogEntry[] = [];
    const abort = new AbortController();
    const following = s.workspaces.serviceLogs("svc", "web", { tail: 0, follow: true, signal: abort.signal }, (e) => followed.push(e));
    following.catch(() => {}); // awaited below; a failure before that must not surface in another test
    try {
      // No telling when the follow begins reading (tail 0): requests repeat until one made after that shows.
      let n = 0;
      const made = async () => (await run("svc", `curl -fsS localhost:8000/health.txt?followed=${++n} >/dev/null`), followed);
      await until("a request shows in the followed log", made, (f) => f.some((e) => e.message.includes("followed=")), 60_000);
    } finally {
      abort.abort();
    }
    await following;
  });

  test("restart of one service, and unknown services, say what happened", async () => {
    const r = await s.workspaces.restartService("svc", "worker");
    expect(r.status).toBe("healthy");
    await expectError(s.workspaces.restartService("svc", "nope"), "NOT_FOUND");
    await expectError(s.workspaces.serviceLogs("svc", "nope", { tail: 1, follow: false }, () => {}), "NOT_FOUND");
  });

  test("hooks run on demand with exit code and output; unknown or undefined hooks are clear errors", async () => {
    const r = await s.workspaces.runHook("svc", "health-check");
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe("ok");
    expect(existsSync(r.logFile)).toBe(true);
    await expectError(s.workspaces.runHook("svc", "post-build"), "INVALID_ARGUMENT");
    expect((await s.workspaces.health("svc")).healthy).toBe(true);
  });

  test("a new daemon (same NEXUS_HOME) finds the services still running, and brings its supervisor to an older container", async () => {
    // As if the container had been started by an older Nexus without (this) supervisor.
    docker("exec", s.store.findByName("svc")!.containerId!, "rm", "/usr/local/lib/nexus/nexus-supervise");
    s.workspaces.shutdown();
    s = services();
    await s.workspaces.reconcile();
    expect((await s.workspaces.listServices("svc")).services.map((x) => x.status)).toEqual(["healthy", "healthy"]);
  });

  test("stop runs pre-stop, stops services, then post-stop in a one-off container as the workspace user; start brings services back", async () => {
    await run("svc", "rm -f ~/markers");
    await s.workspaces.stop("svc", { timeoutSeconds: 5 });
    expect((await s.workspaces.listServices("svc")).services.map((x) => x.status)).toEqual(["stopped", "stopped"]);
    expect(leftovers(home).containers.length).toBe(1); // the one-off hook container is gone
    const started = await s.workspaces.start("svc");
    expect(started.services.map((x) => x.status)).toEqual(["healthy", "healthy"]);
    const uid = String(process.getuid?.());
    expect(await markers("svc")).toEqual(["pre-stop", `post-stop ${uid}`, "pre-start", "web", "worker", "post-start hello"]);
    // skipHooks and skipServices do what they say.
    await s.workspaces.stop("svc", { timeoutSeconds: 5 });
    await run("svc", "true").catch(() => {});
    const bare = await s.workspaces.start("svc", { skipHooks: true, skipServices: true });
    expect(bare.services.map((x) => x.status)).toEqual(["stopped", "stopped"]);
  });

  test("resume reports the services' health", async () => {
    await s.workspaces.restartService("svc", "web");
    await s.workspaces.pause("svc");
    const r = await s.workspaces.resume("svc");
    expect(r.services.find((x) => x.name === "web")?.status).toBe("healthy");
  });
});

describe("ports and images of services", () => {
  test("a service port added after create is reached through a daemon forward, which reaches a server bound to 127.0.0.1", async () => {
    const wt = s.store.findByName("svc")!.worktree!.path;
    writeFileSync(
      join(wt, ".nexus/workspace.yaml"),
      PROJECT + "  api:\n    command: exec python3 -m http.server 8001 --bind 127.0.0.1\n    port: 8001\n    health: { tcp: 8001, interval: 1s }\n",
    );
    const api = await s.workspaces.restartService("svc", "api");
    expect(api.status).toBe("healthy");
    expect(s.store.findByName("svc")!.ports.services.some((p) => p.containerPort === 8001)).toBe(false); // not published
    expect(api.url).toMatch(/^http:\/\/localhost:\d+$/);
    expect((await fetch(`${api.url!.replace("localhost", "127.0.0.1")}/health.txt`)).status).toBe(200);
    expect((await s.forwards.list("svc")).some((f) => f.kind === "forward" && f.containerPort === 8001)).toBe(true);
    expect((await s.workspaces.status("svc")).ports.services).toContainEqual({ name: "api", containerPort: 8001, hostPort: api.port!, status: "forwarded" });
  });

  test("a published service that listens on 127.0.0.1 only gets a hint saying why its URL shows nothing", async () => {
    const loop = makeRepo(join(root.path, "loop"), {
      ".nexus/workspace.yaml": "services:\n  web:\n    command: exec python3 -m http.server 8000 --bind 127.0.0.1\n    port: 8000\n    health: { http: /, interval: 1s }\n",
    });
    const made = await s.workspaces.create({ name: "loop", path: loop });
    expect(made.services[0]?.status).toBe("healthy"); // healthy inside...
    const web = (await s.workspaces.listServices("loop")).services[0]!;
    expect(web.hint).toContain("127.0.0.1 only"); // ...but the published port cannot reach it
    expect(web.hint).toContain("nexus proxy loop 8000");
    await s.workspaces.destroy("loop", { force: true });
  });

  test("dockerfile: the project's own image is built and the workspace image is made on top of it", async () => {
    const proj = makeRepo(join(root.path, "own-image"), {
      ".nexus/Dockerfile": "FROM debian:bookworm-slim\nRUN echo built-by-the-project > /project-marker\n",
      ".nexus/workspace.yaml": "dockerfile: .nexus/Dockerfile\n",
    });
    const phases: string[] = [];
    await s.workspaces.create({ name: "ownimg", path: proj }, (p) => phases.push(p.message));
    expect(phases.some((m) => m.includes(".nexus/Dockerfile"))).toBe(true);
    expect((await run("ownimg", "cat /project-marker && test -x /usr/sbin/sshd && command -v tmux >/dev/null && command -v python3")).trim()).toBe("built-by-the-project\n/usr/bin/python3");
    await s.workspaces.destroy("ownimg", { force: true });
  }, 600_000);
});

describe("failures", () => {
  test("a failing pre-start hook leaves the workspace in error with the hook's log tail; after a fix, start tries again", async () => {
    const bad = makeRepo(join(root.path, "bad-hook"), { ".nexus/workspace.yaml": "hooks:\n  pre-start: echo preparing; echo boom >&2; exit 3\n" });
    const err = await expectError(s.workspaces.create({ name: "hookfail", path: bad }), "WORKSPACE_START_FAILED");
    expect(err.message).toContain("pre-start");
    expect(err.details?.exitCode).toBe(3);
    expect(err.details?.logTail).toEqual(["preparing", "boom"]);
    expect(err.suggestion).toContain("nexus start hookfail");
    const st = await s.workspaces.status("hookfail");
    expect(st.status).toBe("error");
    expect(st.error?.details?.logTail).toEqual(["preparing", "boom"]);
    // Fix the hook in the worktree (where the workspace reads it), then start again.
    const wt = s.store.findByName("hookfail")!.worktree!.path;
    writeFileSync(join(wt, ".nexus/workspace.yaml"), "hooks:\n  pre-start: echo fixed\n");
    expect((await s.workspaces.start("hookfail")).status).toBe("running");
    await s.workspaces.destroy("hookfail", { force: true });
  });

  test("a pause while a --no-wait start finishes in the background leaves the workspace paused, not in error", async () => {
    // The post-start hook runs outside the lock; frozen by the pause, its SSH connection dies of
    // keepalive (about a minute later), and that failure must not speak for the paused workspace.
    const bgHome = join(root.path, "bg-home");
    const cutShort: string[] = [];
    const own = serviceGraph(bgHome, "", { ...silentLogger, warn: (m) => void (m.includes("cut short") && cutShort.push(m)) });
    const bg = makeRepo(join(root.path, "bg-hook"), { ".nexus/workspace.yaml": "hooks:\n  post-start: sleep 600\n" });
    try {
      await own.workspaces.create({ name: "bghook", path: bg }, () => {}, { blocking: false });
      const container = own.store.findByName("bghook")!.containerName;
      const processes = () => {
        try {
          return docker("top", container, "-eo", "pid,args"); // docker top needs the PID column
        } catch {
          return ""; // not running yet
        }
      };
      await until("the post-start hook runs", processes, (ps) => ps.includes("sleep 600"), 120_000);
      await own.workspaces.pause("bghook");
      const status = () => own.store.findByName("bghook")!.status;
      await until("the background part of the start ends", async () => ({ status: status(), cutShort: cutShort.length }), (x) => x.status !== "paused" || x.cutShort > 0, 120_000);
      expect(status()).toBe("paused");
    } finally {
      await own.workspaces.destroy("bghook", { force: true }).catch(() => {});
      own.workspaces.shutdown();
      removeLeftovers(bgHome);
    }
  }, 150_000);

  test("idleness looks again once it has the workspace's lock: an exec begun while another operation held it is not frozen", async () => {
    const busy = makeRepo(join(root.path, "idle-busy"), {
      ".nexus/workspace.yaml": 'services:\n  never:\n    command: exec sleep infinity\n    health: { command: "false", interval: 1s, retries: 1, start_period: 0s }\n',
    });
    await s.workspaces.create({ name: "idlebusy", path: busy }, () => {}, { timeoutSeconds: 1 });
    try {
      await s.workspaces.update("idlebusy", { idleTimeout: 1 });
      await new Promise((r) => setTimeout(r, 1500));
      // A resume waits for the services (never healthy here) with the lock held, as the restore of services at daemon start does.
      const holding = s.workspaces.resume("idlebusy", { timeoutSeconds: 4 });
      const idle = s.workspaces.checkIdle(); // finds it idle, then waits for the lock
      await new Promise((r) => setTimeout(r, 1000));
      const exec = s.workspaces.execCollect("idlebusy", { command: "sh", args: ["-c", "sleep 5; echo done"] });
      exec.catch(() => {}); // frozen, it would fail only when the finally block removes the container
      await holding;
      expect(await idle).toEqual([]);
      expect((await exec).stdout).toBe("done\n");
      expect(s.store.findByName("idlebusy")!.status).toBe("running");
    } finally {
      await s.workspaces.destroy("idlebusy", { force: true });
    }
  }, 60_000);

  test("a hook past its timeout is killed and reported", async () => {
    const slow = makeRepo(join(root.path, "slow-hook"), { ".nexus/workspace.yaml": "hooks:\n  post-start:\n    - command: sleep 30\n      timeout: 1s\n" });
    const err = await expectError(s.workspaces.create({ name: "hookslow", path: slow }), "WORKSPACE_START_FAILED");
    expect(err.message).toContain("timeout");
    expect(err.details?.exitCode).toBe(124);
    await s.workspaces.destroy("hookslow", { force: true });
  });

  test("bad YAML fails the create with the file, line and key, and nothing is left behind", async () => {
    const bad = makeRepo(join(root.path, "bad-yaml"), { ".nexus/workspace.yaml": "services:\n  web:\n    command: x\n    prot: 3000\n" });
    const before = leftovers(home).containers.length;
    const err = await expectError(s.workspaces.create({ name: "badyaml", path: bad }), "INVALID_ARGUMENT");
    expect(err.details).toMatchObject({ line: 4, key: "services.web.prot" });
    expect(err.message).toContain(".nexus/workspace.yaml:4");
    expect(s.store.findByName("badyaml")).toBeUndefined();
    expect(leftovers(home).containers.length).toBe(before);
    expect(existsSync(join(bad, ".worktree", "badyaml"))).toBe(false);
    expect(git(bad, "branch", "--list", "nexus/badyaml")).toBe("");
  });
});
