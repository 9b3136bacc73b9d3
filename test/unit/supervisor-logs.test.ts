// `nexus-supervise logs NAME 0 follow` (the in-container log reader behind service logs -f) across a
// rotation, with the host's python3: lines appended to the old file after the reader's last look are
// given before the new file's. A reader held back by a slow client (back-pressure) is megabytes behind
// when the log rotates; it used to skip to the new file and lose them. Stopping the reader (SIGSTOP)
// while the log is appended to and rotated stands for that.
import { afterAll, expect, test } from "bun:test";
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, readlinkSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SUPERVISOR_PY } from "../../src/core/supervisor.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";

const dir = tempDir("supervisor-logs");
const script = join(dir.path, "nexus-supervise");
writeFileSync(script, SUPERVISOR_PY, { mode: 0o755 });
const servicesDir = join(dir.path, "services");
const log = join(servicesDir, "rot", "service.log");
mkdirSync(join(servicesDir, "rot"), { recursive: true });
writeFileSync(log, "2026-12-06T10:00:00.000Z S starting: x\n");

afterAll(async () => {
  await dir[Symbol.asyncDispose]();
});

const lines = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `2026-12-06T10:00:01.000Z O ${tag}${i}\n`).join("");

test("a follower behind a rotation gives the old file's last lines, then the new file's", async () => {
  const child = spawn("python3", [script, "logs", "rot", "0", "follow"], { env: { ...process.env, NEXUS_SERVICES_DIR: servicesDir }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (s: string) => (out += s));
  try {
    // Following once it holds the log open; then held still while the log moves on and rotates.
    const holds = () => {
      try {
        return readdirSync(`/proc/${child.pid}/fd`).some((fd) => readlinkSync(`/proc/${child.pid}/fd/${fd}`) === log);
      } catch {
        return false;
      }
    };
    await until("the follower to open the log", holds, Boolean, { timeoutMs: 60_000, intervalMs: 20 });
    // kill(1): the runtimes' own kill() does not send SIGSTOP/SIGCONT alike.
    execFileSync("kill", ["-STOP", String(child.pid)]);
    const late = lines("late", 500);
    const next = lines("next", 500);
    appendFileSync(log, late);
    renameSync(log, log + ".1");
    writeFileSync(log, next);
    execFileSync("kill", ["-CONT", String(child.pid)]);
    await until("every line", () => out, (o) => o.length >= late.length + next.length, { timeoutMs: 60_000, intervalMs: 50, detail: () => `${out.length} of ${late.length + next.length} bytes` });
    expect(out).toBe(late + next);
  } finally {
    child.kill("SIGKILL");
  }
}, 120_000);
