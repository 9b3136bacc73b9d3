// Following a session's output: the raw output as text lines (text-lines.ts), the log's positioning
// by absolute byte offset (output-log.ts), and the follower itself (follow.ts) against the host's
// real tmux and GNU split, on a private tmux server with a small history limit: a live follower of a
// command that prints far more rows than tmux keeps gets every line, once, in order.
import { afterAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { followOutput, type WorkspaceShell } from "../../src/core/sessions/follow.ts";
import { CHUNK_BYTES, killWithLogLine, LOG_ROOT, newLoggedSessionLine, parseLogRead, readLogLine } from "../../src/core/sessions/output-log.ts";
import { TerminalLines } from "../../src/core/sessions/text-lines.ts";
import { HISTORY_LIMIT, newSessionId, sendKeysLine } from "../../src/core/sessions/tmux.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const hasTools = spawnSync("tmux", ["-V"]).status === 0 && spawnSync("split", ["--filter=:", "/dev/null"]).status === 0;
const SOCKET = `nexus-follow-${process.pid}`;
const logRoot = mkdtempSync(join(tmpdir(), "nexus-follow-"));
/** tmux's history on this test's server: small, so a quick command overflows it many times. */
const SMALL_HISTORY = 500;

/** A line as the daemon runs it in a workspace, here on this test's own tmux server, history limit and log folder. */
const local = (line: string) =>
  line.replaceAll("tmux -L nexus ", `tmux -L ${SOCKET} `).replaceAll(`history-limit ${HISTORY_LIMIT}`, `history-limit ${SMALL_HISTORY}`).replaceAll(LOG_ROOT, logRoot);
const shell: WorkspaceShell = (line) =>
  new Promise((resolve) => {
    const child = spawn("sh", ["-c", local(line)]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
    child.on("close", (code) => resolve({ exitCode: code ?? 1, stdout, stderr }));
  });
const failed = (stderr: string) => new Error(stderr);
const until = async (what: string, ok: () => Promise<boolean>, ms = 30_000) => {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

afterAll(() => {
  if (hasTools) spawnSync("tmux", ["-L", SOCKET, "kill-server"]);
  rmSync(logRoot, { recursive: true, force: true });
});

describe("raw output as text lines", () => {
  const lines = (...writes: string[]) => {
    const t = new TerminalLines();
    const out = writes.flatMap((w) => t.write(w).lines);
    return { out, exit: t.exitCode, rest: t.flush() };
  };

  test("CR LF ends a line; a CR alone writes over it, as the terminal shows it", () => {
    expect(lines("a\r\nb\r\n").out).toEqual(["a", "b"]);
    expect(lines("10%\r20%\r100%\r\n").out).toEqual(["100%"]);
    expect(lines("abcdef\rXY\r\n").out).toEqual(["XYcdef"]);
    expect(lines("ab\bC\r\n", "x\ty\r\n").out).toEqual(["aC", "x       y"]);
  });

  test("escape sequences are dropped, split anywhere between writes; erase-in-line and cursor moves count", () => {
    expect(lines("\x1b[1;31mred\x1b[0m plain\r\n").out).toEqual(["red plain"]);
    expect(lines("\x1b[1", ";3", "1mr", "ed\x1b", "[0m\r", "\n").out).toEqual(["red"]);
    expect(lines("\x1b]0;title\x07t\x1b]2;x\x1b\\u\r\n").out).toEqual(["tu"]);
    expect(lines("long line\r\x1b[Kshort\r\n").out).toEqual(["short"]);
    expect(lines("abc\x1b[2D\x1b[KX\r\n").out).toEqual(["aX"]);
    expect(lines("\x1b(Bx\x1bPdcs stuff\x1b\\y\x1b=\r\n").out).toEqual(["xy"]);
  });

  test("what a full-screen program draws on the alternate screen is left out", () => {
    expect(lines("before\r\n\x1b[?1049h\x1b[Hvim screen\r\n~\r\n\x1b[?1049lafter\r\n").out).toEqual(["before", "after"]);
  });

  test("the wrapper's exit mark gives the code, on the screen it is nothing; an unfinished line comes with flush", () => {
    const r = lines("out\r\nno newline", "\x1b]nexus-exit;", "7\x07");
    expect(r).toEqual({ out: ["out"], exit: 7, rest: ["no newline"] });
    expect(lines("\x1b]nexus-exit;3\x1b\\").exit).toBe(3);
    expect(lines("\x1b]nexus-exit;x\x07").exit).toBeUndefined();
  });
});

describe("positioning in the log by absolute byte offset", () => {
  const state = "0:xys:12:3:24";
  const answer = (first: number, last: number, size: number, data: string, tail = "-") => `${first} ${last} ${size} ${tail}\n${Buffer.from(data).toString("base64")}\n${state}\n`;

  test("a read gives the bytes from the offset asked, and where the next one starts", () => {
    const r = parseLogRead(answer(0, 0, 10, "abc"), 7);
    expect(r).toMatchObject({ kind: "log", start: 7, dropped: 0, next: 10, end: 10 });
    if (r.kind === "log") expect(r.bytes.toString()).toBe("abc");
  });

  test("offsets go on across chunks: chunk n starts at n * CHUNK_BYTES", () => {
    const r = parseLogRead(answer(3, 5, 100, "xy"), 5 * CHUNK_BYTES + 98);
    expect(r).toMatchObject({ start: 5 * CHUNK_BYTES + 98, next: 5 * CHUNK_BYTES + 100, end: 5 * CHUNK_BYTES + 100, dropped: 0 });
  });

  test("a follower behind the oldest chunk kept starts there and is told how much it lost", () => {
    const r = parseLogRead(answer(4, 6, 1, "z"), CHUNK_BYTES + 5);
    expect(r).toMatchObject({ start: 4 * CHUNK_BYTES, dropped: 3 * CHUNK_BYTES - 5, next: 4 * CHUNK_BYTES + 1 });
  });

  test("a chunk missing before the end is skipped and counted as dropped, never asked for again and again", () => {
    expect(parseLogRead(answer(0, 3, 10, ""), CHUNK_BYTES + 7)).toMatchObject({ start: CHUNK_BYTES + 7, next: 2 * CHUNK_BYTES, dropped: CHUNK_BYTES - 7 });
    // At the end of what there is, nothing read is nothing missing.
    expect(parseLogRead(answer(0, 3, 10, ""), 3 * CHUNK_BYTES + 10)).toMatchObject({ next: 3 * CHUNK_BYTES + 10, dropped: 0 });
  });

  test("a tail read says where the last lines start, never before the oldest chunk; no log is said so", () => {
    expect(parseLogRead(answer(2, 3, 50, "", "80"), 0)).toMatchObject({ tailStart: 3 * CHUNK_BYTES - 30, end: 3 * CHUNK_BYTES + 50 });
    expect(parseLogRead(answer(2, 3, 50, "", String(3 * CHUNK_BYTES)), 0)).toMatchObject({ tailStart: 2 * CHUNK_BYTES });
    expect(parseLogRead(`nolog\n1:x4ys:0:0:5\n`, 0)).toMatchObject({ kind: "nolog", state: { dead: true, exitCode: 4 } });
  });
});

describe.skipIf(!hasTools)("a live follower against a real tmux", () => {
  const start = async (commandLine: string, cols = 40) => {
    const id = newSessionId();
    const made = await shell(newLoggedSessionLine({ id, commandLine, label: "test", kind: "command", cwd: "/", cols, rows: 5 }));
    expect(made).toMatchObject({ exitCode: 0, stderr: "" });
    return id;
  };
  const numbered = (n: number, from = 1) => Array.from({ length: n }, (_, i) => String(from + i));

  test(`every line of ${SMALL_HISTORY * 40} (tmux keeps ${SMALL_HISTORY} rows) once, in order, then the code; a slow reader too`, async () => {
    const total = SMALL_HISTORY * 40;
    // The command says it is ready and waits for a key: the followers are past that line before its output.
    const id = await start(`echo ready; read x; seq 1 ${total}; sleep 0.5; seq ${total + 1} ${total * 2}; exit 5`);
    const fast: string[] = [];
    const slow: string[] = [];
    const followers = [
      followOutput(shell, id, { tail: 10, failed }, (l) => void fast.push(...l)),
      // Holds every read a while: it falls thousands of rows behind tmux's numbering.
      followOutput(shell, id, { tail: 10, failed }, (l) => new Promise<void>((r) => setTimeout(() => (slow.push(...l), r()), 30))),
    ];
    await until("both followers past 'ready'", async () => fast.includes("ready") && slow.includes("ready"));
    expect((await shell(sendKeysLine(id, "", true))).exitCode).toBe(0);
    const ends = await Promise.all(followers);
    for (const end of ends) expect(end).toEqual({ sessionId: id, reason: "exited", exitCode: 5 });
    // "ready", the typed Enter's echo (an empty line), then every number.
    expect(fast).toEqual(["ready", "", ...numbered(total * 2)]);
    expect(slow).toEqual(["ready", "", ...numbered(total * 2)]);
    expect((await shell(killWithLogLine(id))).exitCode).toBe(0);
  });

  test("the log keeps its last chunks; a reader held back past them is told what it lost, then reads on in order", async () => {
    const geometry = { chunkBytes: 4096, chunksKept: 4 };
    const id = newSessionId();
    const made = await shell(newLoggedSessionLine({ id, commandLine: "echo ready; read x; seq 1 30000; exit 3", label: "test", kind: "command", cwd: "/", cols: 40, rows: 5 }, geometry));
    expect(made).toMatchObject({ exitCode: 0, stderr: "" });
    let open: () => void = () => {};
    const gate = new Promise<void>((r) => (open = r));
    const got: string[] = [];
    let dropped = 0;
    // The reader takes "ready", then holds the follower until the command has printed everything.
    const follower = followOutput(shell, id, { tail: 10, failed, geometry, onDropped: (n) => void (dropped += n) }, (l) => (got.push(...l), got.includes("ready") ? gate : undefined));
    await until("the follower at 'ready'", async () => got.includes("ready"));
    expect((await shell(sendKeysLine(id, "", true))).exitCode).toBe(0);
    await until("the exit mark in the log", async () => (await shell(`grep -q nexus-exit ${LOG_ROOT}/${id}/*`)).exitCode === 0);
    const files = (await shell(`ls ${LOG_ROOT}/${id}`)).stdout.trim().split("\n");
    expect(files.length).toBeLessThanOrEqual(geometry.chunksKept);
    open();
    expect(await follower).toMatchObject({ reason: "exited", exitCode: 3 });
    // About 170 kB were printed and 16 kB kept: the rest is said to be lost, not silently skipped.
    expect(dropped).toBeGreaterThan(140_000);
    const after = got.slice(got.indexOf("ready") + 1).filter((l) => l !== "");
    // The first line after the gap may be the end of a cut one; from the next on, every number once, up to the last.
    const rest = after.slice(1).map(Number);
    expect(rest.at(-1)).toBe(30000);
    expect(rest).toEqual(numbered(rest.length, rest[0]).map(Number));
    expect((await shell(killWithLogLine(id))).exitCode).toBe(0);
  });

  test("a tail of a finished session: its last lines and the code; tail 0 gives none", async () => {
    const id = await start(`seq 1 3000; printf 'no newline'; exit 2`);
    // A tail is of what the log holds when the follower starts: all of it here, down to the exit mark.
    await until("the exit mark in the log", async () => (await shell(`grep -q nexus-exit ${LOG_ROOT}/${id}/*`)).exitCode === 0);
    const got: string[] = [];
    const end = await followOutput(shell, id, { tail: 3, failed }, (l) => void got.push(...l));
    expect(end).toMatchObject({ reason: "exited", exitCode: 2 });
    expect(got).toEqual(["2999", "3000", "no newline"]);
    const none: string[] = [];
    expect(await followOutput(shell, id, { tail: 0, failed }, (l) => void none.push(...l))).toMatchObject({ exitCode: 2 });
    expect(none).toEqual([]);
  });

  test("a killed session ends its follower as killed, and its log goes with it", async () => {
    const id = await start("cat");
    const end = followOutput(shell, id, { tail: 0, failed }, () => undefined);
    expect((await shell(killWithLogLine(id))).exitCode).toBe(0);
    expect(await end).toMatchObject({ reason: "killed" });
    expect(spawnSync("ls", [logRoot], { encoding: "utf8" }).stdout).not.toContain(id);
  });

  test("a session without a log (an older daemon's) is followed on tmux's rows", async () => {
    const id = newSessionId();
    const { newSessionLine } = await import("../../src/core/sessions/tmux.ts");
    expect((await shell(newSessionLine({ id, commandLine: "seq 1 20; exit 1", label: "old", kind: "command", cwd: "/", cols: 40, rows: 5 }))).exitCode).toBe(0);
    const got: string[] = [];
    expect(await followOutput(shell, id, { tail: 100, failed }, (l) => void got.push(...l))).toMatchObject({ reason: "exited", exitCode: 1 });
    expect(got).toEqual(numbered(20));
  });
});

describe("the output log's lines", () => {
  test("refuse anything but a session id of ours, before any shell sees it", () => {
    for (const id of ["ses-1234abcd /", "../x", "ses-1234abcd; rm -rf ~", "", "ses-1234ABCD"]) {
      expect(() => killWithLogLine(id)).toThrow("not a session id");
      expect(() => readLogLine(id, { offset: 0 })).toThrow("not a session id");
    }
    expect(killWithLogLine("ses-1234abcd")).toContain("rm -rf /tmp/nexus-sessions/ses-1234abcd;");
  });
});
