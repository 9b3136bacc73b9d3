// `nexus-supervise logs NAME TAIL follow` (the in-container log reader behind service logs -f), with
// the host's python3. Across a rotation: lines appended to the old file after the reader's last look
// are given before the new file's. A reader held back by a slow client (back-pressure) is megabytes
// behind when the log rotates; it used to skip to the new file and lose them. Stopping the reader
// (SIGSTOP) while the log is appended to and rotated stands for that. At its start: a line or a
// rotation at any of its first looks at the log leaves no gap between the tail and what follows.
import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, readlinkSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
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

/** Whether process `pid` holds `path` open with its read position at the file's end (where a follower with tail 0 starts). */
function holdsAtEnd(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== path) return false;
      const pos = /^pos:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
      return pos !== null && Number(pos[1]) === statSync(path).size;
    });
  } catch {
    return false; // gone, or a descriptor closed while looked at
  }
}

test("a follower behind a rotation gives the old file's last lines, then the new file's", async () => {
  const child = spawn("python3", [script, "logs", "rot", "0", "follow"], { env: { ...process.env, NEXUS_SERVICES_DIR: servicesDir }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (s: string) => (out += s));
  try {
    // Following once it holds the log open at its end; then held still while the log moves on and rotates.
    await until("the follower to hold the log at its end", () => holdsAtEnd(child.pid!, log), Boolean, { timeoutMs: 60_000, intervalMs: 20 });
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

/**
 * Runs the reader with a second writer acting at its Nth look at the log (each open or stat of the log
 * or its rotated file, counted from 0): it appends a line, or rotates the log as the supervisor does.
 * That writer says "acted" on stderr; the reader's output is what it wrote to stdout.
 */
const INTERLEAVE = `
import builtins, os, runpy, sys
script, log, what, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
real_open, real_stat, looks = builtins.open, os.stat, [0]
def look(p):
    if not str(p).startswith(log):
        return
    looks[0] += 1
    if looks[0] - 1 != at:
        return
    if what == "rotate":
        os.rename(log, log + ".1")
    with real_open(log, "ab") as w:
        w.write(("2026-12-06T10:00:02.000Z O %s\\n" % what).encode())
    sys.stderr.write("acted\\n")
    sys.stderr.flush()
builtins.open = lambda p, *a, **k: (look(p), real_open(p, *a, **k))[1]
os.stat = lambda p, *a, **k: (look(p), real_stat(p, *a, **k))[1]
sys.argv = [script] + sys.argv[5:]
runpy.run_path(script, run_name="__main__")
`;

async function startInterleaved(what: "append" | "rotate", at: number, tail: number): Promise<{ output: string; history: string[] }> {
  const name = `start-${what}-${at}-${tail}`;
  const file = join(servicesDir, name, "service.log");
  mkdirSync(join(servicesDir, name), { recursive: true });
  const older = lines("older", 10);
  const current = lines("current", 10);
  writeFileSync(file + ".1", older);
  writeFileSync(file, current);
  const child = spawn("python3", ["-c", INTERLEAVE, script, file, what, String(at), "logs", name, String(tail), "follow"], { env: { ...process.env, NEXUS_SERVICES_DIR: servicesDir }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (s: string) => (out += s));
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (s: string) => (err += s));
  const end = "2026-12-06T10:00:03.000Z O end\n";
  try {
    await until(`${name}: the second writer to act`, () => err, (e) => e.includes("acted"), { timeoutMs: 60_000, intervalMs: 20, detail: () => err });
    appendFileSync(file, end);
    await until(`${name}: the last line`, () => out, (o) => o.endsWith(end), { timeoutMs: 60_000, intervalMs: 20, detail: () => `output: ${JSON.stringify(out)}; stderr: ${err}` });
  } finally {
    child.kill("SIGKILL");
  }
  const history = (older + current + `2026-12-06T10:00:02.000Z O ${what}\n` + end).split(/(?<=\n)/);
  return { output: out, history };
}

describe("a line or a rotation at any of the reader's first looks at the log", () => {
  // Looks 0-5 cover the reader's start (opening the log, reading the tail, taking its place) and its
  // first looks while it waits at the end.
  const cases = (["append", "rotate"] as const).flatMap((what) => [0, 3].flatMap((tail) => [0, 1, 2, 3, 4, 5].map((at) => ({ what, tail, at }))));
  test.each(cases.map((c) => [`${c.what} at look ${c.at}, tail ${c.tail}`, c] as const))("%s: the tail, then every line after it", async (_, c) => {
    const { output, history } = await startInterleaved(c.what, c.at, c.tail);
    const got = output.split(/(?<=\n)/);
    // What came is the log from some point on, without a gap: its last lines at the start (tail), then the rest.
    const from = history.length - got.length;
    expect(got).toEqual(history.slice(from));
    // A tail of 0 gives nothing written before the reader began; a tail of 3, the last 3 lines when it
    // read them (the last line may be among them: it is written once the second writer has acted).
    if (c.tail === 0) expect(from).toBeGreaterThanOrEqual(20);
    else expect(got.length).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
