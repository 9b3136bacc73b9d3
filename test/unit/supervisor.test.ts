// The in-container service supervisor, run here with the host's python3 (the same script the
// workspaces get): restart with backoff, health states, stop of the whole process group, logs.
import { afterAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { parseLogLine, type SupervisorState } from "../../src/core/services.ts";
import { SERVICES_DIR, SUPERVISOR_PY } from "../../src/core/supervisor.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

// Real python processes: on a loaded machine (2 cores, load ~20) one start can take seconds.
const LONG = 240_000;
const dir = tempDir("supervisor");
const script = join(dir.path, "nexus-supervise");
writeFileSync(script, SUPERVISOR_PY, { mode: 0o755 });
const servicesDir = join(dir.path, "services");
const cwd = join(dir.path, "work");
mkdirSync(cwd);

function sup(...args: string[]): string {
  const r = spawnSync("python3", [script, ...args], { encoding: "utf8", env: { ...process.env, NEXUS_SERVICES_DIR: servicesDir }, timeout: 90_000 });
  if (r.status !== 0) throw new Error(`nexus-supervise ${args.join(" ")}: ${r.status} ${r.stderr}`);
  return r.stdout;
}
const states = () => new Map((JSON.parse(sup("status")) as SupervisorState[]).map((s) => [s.name, s]));
const state = (name: string) => states().get(name)!;
/** Running: a zombie (exited, waiting for a parent that may never reap it, as some init processes do) is not. */
const alive = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop()!.trim()[0] !== "Z";
  } catch {
    return false;
  }
};

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

afterAll(async () => {
  for (const name of existsSync(servicesDir) ? ["web", "once", "flaky", "tree", "twice", "early"] : []) spawnSync("python3", [script, "stop", name, "1"], { env: { ...process.env, NEXUS_SERVICES_DIR: servicesDir } });
  await dir[Symbol.asyncDispose]();
}, LONG);

describe("the embedded script", () => {
  test("is nexus-supervise.py as it stands, whole, and its default folder is SERVICES_DIR", () => {
    expect(SUPERVISOR_PY).toBe(readFileSync(join(import.meta.dirname, "../../src/core/nexus-supervise.py"), "utf8"));
    expect(SUPERVISOR_PY.startsWith("#!/usr/bin/env python3\n")).toBe(true);
    expect(SUPERVISOR_PY).toContain(`ROOT = os.environ.get("NEXUS_SERVICES_DIR", ${JSON.stringify(SERVICES_DIR)})`);
  });
});

describe("nexus-supervise", () => {
  test("an HTTP service becomes healthy, is restarted after kill -9, and start is a no-op while it runs", async () => {
    const port = await freePort();
    writeFileSync(join(cwd, "ok.txt"), "ok");
    // -u: the service's "Serving HTTP" line is read from its log below, after a kill -9. Python holds
    // what it prints to a file in its buffer unless told otherwise (PYTHONUNBUFFERED, set on some
    // machines and not in the clean environment of scripts/test-nonroot.sh), and a killed process
    // never writes its buffer: that is the service's own doing, not the supervisor's.
    const spec = JSON.stringify({ command: `exec python3 -u -m http.server ${port} --bind 127.0.0.1`, cwd, port, health: { kind: "http", http: "/ok.txt", intervalSeconds: 0.2, timeoutSeconds: 1, retries: 2, startPeriodSeconds: 10 }, restart: "on-failure" });
    sup("start", "web", spec);
    const healthy = await until("web healthy", () => state("web"), (s) => s.status === "healthy");
    expect(healthy.pid).toBeGreaterThan(0);
    expect(healthy.probe).toMatchObject({ ok: true, output: "HTTP 200" });
    expect((JSON.parse(sup("start", "web", spec)) as SupervisorState).pid).toBe(healthy.pid); // same spec: nothing restarted

    process.kill(healthy.pid!, "SIGKILL");
    const back = await until("web back", () => state("web"), (s) => s.status === "healthy" && s.pid !== healthy.pid);
    expect(back).toMatchObject({ restarts: 1, lastExitCode: 137 });
    const log = sup("logs", "web", "100").trim().split("\n").map((l) => parseLogLine("web", l));
    expect(log.some((e) => e.level === "warn" && e.message === "exited with code 137; restarting in 1 s")).toBe(true);
    expect(log.some((e) => e.level === "info" && e.message.includes(`Serving HTTP on 127.0.0.1 port ${port}`))).toBe(true);
    expect(log.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(e.timestamp))).toBe(true);
    expect(sup("logs", "web", "2").trim().split("\n")).toHaveLength(2);

    sup("stop", "web", "2");
    expect(state("web").status).toBe("stopped");
    expect(alive(back.pid!)).toBe(false);
  }, LONG);

  test("a failing probe turns healthy into unhealthy after `retries` failures; a passing one back", async () => {
    const flag = join(cwd, "healthy");
    writeFileSync(flag, "");
    sup("start", "flaky", JSON.stringify({ command: "exec sleep 600", cwd, health: { kind: "command", command: `test -e ${flag}`, intervalSeconds: 0.2, timeoutSeconds: 1, retries: 2, startPeriodSeconds: 0 }, restart: "on-failure" }));
    await until("flaky healthy", () => state("flaky"), (s) => s.status === "healthy");
    spawnSync("rm", ["-f", flag]);
    const sick = await until("flaky unhealthy", () => state("flaky"), (s) => s.status === "unhealthy");
    expect(sick.probe?.ok).toBe(false);
    writeFileSync(flag, "");
    await until("flaky healthy again", () => state("flaky"), (s) => s.status === "healthy");
    sup("stop", "flaky", "1");
  }, LONG);

  test("restart policies: on-failure leaves a clean exit stopped; no health check means running", async () => {
    // The service exits cleanly once told to (a file appears), not after a sleep a loaded machine may outlast.
    const go = join(cwd, "once-go");
    sup("start", "once", JSON.stringify({ command: `until [ -e ${go} ]; do sleep 0.05; done; exit 0`, cwd, restart: "on-failure" }));
    expect(["running", "starting"]).toContain(state("once").status);
    await until("once running", () => state("once"), (s) => s.status === "running");
    writeFileSync(go, "");
    const done = await until("once stopped", () => state("once"), (s) => s.status === "stopped");
    expect(done).toMatchObject({ lastExitCode: 0, restarts: 0, message: "exited with code 0" });
  }, LONG);

  test("stop ends the whole process group, and a killed supervisor shows as stopped", async () => {
    sup("start", "tree", JSON.stringify({ command: "sleep 600 & sleep 600 & wait", cwd, restart: "always" }));
    const s = await until("tree running", () => state("tree"), (x) => x.status === "running" && x.pid !== null);
    // The shell and its two sleeps: the sleeps are forked in their own time on a loaded machine.
    const group = () => spawnSync("pgrep", ["-g", String(s.pid)], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean).map(Number);
    const children = await until("the group's three processes", () => group(), (g) => g.length >= 3);
    expect(children.length).toBeGreaterThanOrEqual(3);
    sup("stop", "tree", "2");
    await until("the group is gone", () => children.filter(alive), (left) => left.length === 0, 30_000);

    sup("start", "tree", JSON.stringify({ command: "exec sleep 600", cwd, restart: "always" }));
    const again = await until("tree running again", () => state("tree"), (x) => x.status === "running" && x.pid !== null);
    const supervisorPid = Number(spawnSync("cat", [join(servicesDir, "tree", "supervisor.pid")], { encoding: "utf8" }).stdout.split(" ")[0]);
    process.kill(supervisorPid, "SIGKILL");
    await until("shown as stopped", () => state("tree"), (x) => x.status === "stopped");
    // The next start ends the orphaned service first, so it never runs twice.
    expect(alive(again.pid!)).toBe(true);
    sup("start", "tree", JSON.stringify({ command: "exec sleep 600", cwd, restart: "always" }));
    await until("the orphan is gone", () => alive(again.pid!), (a) => !a, 30_000);
    // The new one passes through "starting" on its way (on a loaded machine, still when the orphan is gone).
    await until("tree running in its place", () => state("tree"), (x) => x.status === "running" && x.pid !== again.pid);
    sup("stop", "tree", "1");
  }, LONG);
});

describe("nexus-supervise under concurrency", () => {
  test("two starts of one service at once run it once: the second finds the first's supervisor", async () => {
    const spec = JSON.stringify({ command: "exec sleep 600", cwd, restart: "always" });
    const env = { ...process.env, NEXUS_SERVICES_DIR: servicesDir };
    const run = () =>
      new Promise<number>((resolve) => {
        const child = spawn("python3", [script, "start", "twice", spec], { env, stdio: "ignore" });
        child.on("exit", (code) => resolve(code ?? -1));
      });
    expect(await Promise.all([run(), run(), run()])).toEqual([0, 0, 0]);
    await until("twice running", () => state("twice"), (x) => x.status === "running" && x.pid !== null);
    const starts = sup("logs", "twice", "100").split("\n").filter((l) => l.includes(" S starting: "));
    expect(starts).toHaveLength(1);
    sup("stop", "twice", "1");
    expect(state("twice").status).toBe("stopped");
  }, LONG);

  test("a supervisor counts as alive from its start: status right after start never says its supervisor is gone", () => {
    sup("start", "early", JSON.stringify({ command: "exec sleep 600", cwd, restart: "always" }));
    const st = state("early");
    expect(st.status).not.toBe("stopped");
    expect(st.message).not.toContain("supervisor is gone");
    sup("stop", "early", "1");
  }, LONG);
});

describe("parseLogLine", () => {
  test("stdout is info, stderr error, the supervisor's own lines warn; other lines are kept whole", () => {
    expect(parseLogLine("web", "2026-12-01T10:00:00.000Z O hello world")).toEqual({ serviceName: "web", timestamp: "2026-12-01T10:00:00.000Z", level: "info", message: "hello world" });
    expect(parseLogLine("web", "2026-12-01T10:00:00.000Z E oops").level).toBe("error");
    expect(parseLogLine("web", "2026-12-01T10:00:00.000Z S starting: x").level).toBe("warn");
    expect(parseLogLine("web", "no stamp here")).toEqual({ serviceName: "web", timestamp: "", level: "info", message: "no stamp here" });
  });
});
