// The CLI's standard streams (src/runtime/stdio.ts) in a fresh process of the runtime running the
// tests (Bun, or Deno under scripts/test-deno.sh): a reader that went away is no error, any other
// failed write is, and is reported once every write under way has settled.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { slowTests } from "../helpers/timeout.ts";
import { evalArgv } from "../helpers/runtime-argv.ts";

slowTests();

const STDIO = join(import.meta.dirname, "../../src/runtime/stdio.ts");

/**
 * Writes `mib` MiB to `fd` in 64 KiB writes (not waited for, as exec's output is), then prints on
 * the other descriptor what stdioFailure says and whether the last write's promise resolved.
 */
function probe(fd: 1 | 2, mib: number): string {
  const other = fd === 1 ? 2 : 1;
  return `
    const m = await import(${JSON.stringify(STDIO)});
    const chunk = new Uint8Array(64 * 1024).fill(65);
    let last;
    for (let i = 0; i < ${mib * 16}; i++) last = m.writeStdio(${fd}, chunk);
    const settled = await last.then(() => "resolved", () => "rejected");
    const f = await m.stdioFailure();
    const text = JSON.stringify({ settled, fd: f?.fd ?? null, code: f?.error?.code ?? null });
    if (${other} === 2) await m.writeStdio(2, text); else await m.writeStdio(1, text);
  `;
}

describe("writeStdio", () => {
  test.skipIf(!existsSync("/dev/full"))("a full device is a failure of that descriptor, kept for stdioFailure; the write's promise still resolves", () => {
    for (const fd of [1, 2] as const) {
      const [cmd, args] = evalArgv(probe(fd, 1));
      const full = openSync("/dev/full", "w");
      const r = spawnSync(cmd, args, { stdio: fd === 1 ? ["ignore", full, "pipe"] : ["ignore", "pipe", full], encoding: "utf8" });
      const out = JSON.parse((fd === 1 ? r.stderr : r.stdout) || "null");
      expect(out).toEqual({ settled: "resolved", fd, code: "ENOSPC" });
    }
  });

  test("a reader that went away (EPIPE) is not a failure", () => {
    const [cmd, args] = evalArgv(probe(1, 4));
    // `true` never reads its stdin and exits: once the pipe's buffer is full, every write is EPIPE.
    const quoted = [cmd, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
    const r = spawnSync("sh", ["-c", `${quoted} | true`], { encoding: "utf8" });
    expect(JSON.parse(r.stderr || "null")).toEqual({ settled: "resolved", fd: null, code: null });
  });

  test("text is written as UTF-8, as TextEncoder encodes it (a lone surrogate as U+FFFD), in the order it was given", () => {
    const text = "plain, é, ✓, \u{1F600}, lone \ud800 surrogate\n";
    const [cmd, args] = evalArgv(`
      const m = await import(${JSON.stringify(STDIO)});
      m.writeStdio(1, "first ");
      m.writeStdio(1, new TextEncoder().encode("bytes "));
      await m.writeStdio(1, ${JSON.stringify(text)});
    `);
    const r = spawnSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    expect(r.status).toBe(0);
    expect(new Uint8Array(r.stdout)).toEqual(new TextEncoder().encode("first bytes " + text));
  });

  // Bun writes a string itself: a TextEncoder's first use cost a short command about 0.25 ms.
  test.skipIf(!("Bun" in globalThis))("under Bun, text is written without a TextEncoder", () => {
    const [cmd, args] = evalArgv(`
      const m = await import(${JSON.stringify(STDIO)});
      globalThis.TextEncoder = class { constructor() { throw new Error("TextEncoder made"); } };
      await m.writeStdio(1, "é ✓\\n");
      const f = await m.stdioFailure();
      if (f) await m.writeStdio(2, f.error.message);
    `);
    const r = spawnSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: "é ✓\n", stderr: "" });
  });

  // Deno's writeSync (process.stdout's too) waited on the CLI's one thread for the reader: no timer,
  // no stdin, no signal ran, and the attach could not read its detach key.
  test("streamStdout (the attach's stdout): a pipe nobody reads holds the write, not the thread: a timer runs meanwhile", () => {
    expect(timerWhileUnread(`
      const out = m.streamStdout();
      const text = "x".repeat(64 * 1024);
      for (let i = 0; i < 64; i++) out.write(text, () => {}); // 4 MiB: far more than a pipe holds
    `)).toEqual({ status: 0, stderr: "the timer ran" });
  });

  // exec's output while stdin is forwarded, a followed log: under Deno writeStdio's writeSync held the thread.
  test("writeStreamed: a pipe nobody reads holds the write, not the thread: a timer runs meanwhile", () => {
    expect(timerWhileUnread(`
      for (let i = 0; i < 32; i++) m.writeStreamed(1, chunk); // 2 MiB: far more than a pipe holds
      for (let i = 0; i < 1000; i++) m.writeStreamed(1, "line " + i + "\\n");
    `)).toEqual({ status: 0, stderr: "the timer ran" });
  });

  // Ctrl-C while stdout is full: the exit waited for the reader.
  test("dropUnwritten: the exit no longer waits for writes a reader may never take, and nothing more is written", () => {
    const r = intoUnreadFifo(`
      const chunk = new Uint8Array(64 * 1024).fill(65);
      for (let i = 0; i < 32; i++) m.writeStreamed(1, chunk);
      m.dropUnwritten();
      const later = await m.writeStreamed(1, "after").then(() => "resolved");
      const f = await m.stdioFailure();
      process.stderr.write(JSON.stringify({ later, failure: f ?? null }));
      process.exit(0);
    `);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: JSON.stringify({ later: "resolved", failure: null }) });
  });

  test("writeStreamed and writeStdio keep the order they were called in, text and bytes alike", () => {
    const [cmd, args] = evalArgv(`
      const m = await import(${JSON.stringify(STDIO)});
      const big = "x".repeat(256 * 1024) + "\\n";
      m.writeStreamed(1, big);
      for (let i = 0; i < 100; i++) m.writeStreamed(1, "s" + i + " ");
      m.writeStreamed(1, new TextEncoder().encode("bytes é "));
      m.writeStdio(1, "stdio ");
      m.writeStreamed(1, "✓ last\\n");
      await m.writeStreamed(1, "");
    `);
    const r = spawnSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", maxBuffer: 8 << 20 });
    const words = Array.from({ length: 100 }, (_, i) => `s${i} `).join("");
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: "x".repeat(256 * 1024) + "\n" + words + "bytes é stdio ✓ last\n", stderr: "" });
  });

  // `nexus exec`'s own path wrote a command's output with writeStdio: under Bun its write to a full
  // pipe held the thread, and Ctrl-C's handler never ran.
  test("writeOutput (a command's output): a pipe nobody reads holds the write, not the thread: a timer runs meanwhile", () => {
    expect(timerWhileUnread(`
      m.writeOutput(1, "a short first line\\n");
      for (let i = 0; i < 32; i++) m.writeOutput(1, chunk); // 2 MiB: far more than a pipe holds
    `)).toEqual({ status: 0, stderr: "the timer ran" });
  });

  test("writeOutput keeps every byte in order across its first 4 KiB and the writes after, on each stream", () => {
    const [cmd, args] = evalArgv(`
      const m = await import(${JSON.stringify(STDIO)});
      for (let i = 0; i < 3000; i++) m.writeOutput(i % 2 ? 2 : 1, i % 3 ? "line é " + i + "\\n" : new TextEncoder().encode("bytes ✓ " + i + "\\n"));
      await m.writeOutput(1, "");
      await m.writeOutput(2, "");
    `);
    const r = spawnSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", maxBuffer: 8 << 20 });
    const want = (fd: number) =>
      Array.from({ length: 3000 }, (_, i) => i)
        .filter((i) => (i % 2 ? 2 : 1) === fd)
        .map((i) => (i % 3 ? `line é ${i}\n` : `bytes ✓ ${i}\n`))
        .join("");
    expect({ status: r.status, stdout: r.stdout === want(1), stderr: r.stderr === want(2) }).toEqual({ status: 0, stdout: true, stderr: true });
  });

  test("output that succeeds reports nothing", () => {
    const [cmd, args] = evalArgv(probe(1, 1));
    const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 8 << 20 });
    expect(r.stdout.length).toBe(1 << 20);
    expect(JSON.parse(r.stderr || "null")).toEqual({ settled: "resolved", fd: null, code: null });
  });
});

/**
 * Runs `writes` (with `m`, the stdio module, and `chunk`, 64 KiB) into a FIFO nobody reads, then a
 * timer that says so on stderr and exits: it runs only if no write holds the thread.
 */
function timerWhileUnread(writes: string): { status: number | null; stderr: string } {
  return intoUnreadFifo(`
    const chunk = new Uint8Array(64 * 1024).fill(65);
    ${writes}
    setTimeout(async () => {
      await m.writeStdio(2, "the timer ran");
      process.exit(0);
    }, 0);
  `);
}

/** Runs `body` (with `m`, the stdio module) in a fresh process whose stdout is a FIFO nobody reads; killed after 60 s. */
function intoUnreadFifo(body: string): { status: number | null; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "nexus-stdio-"));
  try {
    const fifo = join(dir, "out");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const unread = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeEnd = openSync(fifo, constants.O_WRONLY);
    const [cmd, args] = evalArgv(`const m = await import(${JSON.stringify(STDIO)});\n${body}`);
    const r = spawnSync(cmd, args, { stdio: ["ignore", writeEnd, "pipe"], encoding: "utf8", timeout: 60_000, killSignal: "SIGKILL" });
    closeSync(writeEnd);
    closeSync(unread);
    return { status: r.status, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * isTerminal for 0, 1 and 2 in a fresh process, beside node:tty's isatty for the same descriptors,
 * written as JSON to `out` (not to a descriptor under test).
 */
function terminalProbe(out: string): string {
  return `
    const m = await import(${JSON.stringify(STDIO)});
    const ours = [0, 1, 2].map((fd) => m.isTerminal(fd));
    const tty = await import("node:tty");
    const node = [0, 1, 2].map((fd) => tty.isatty(fd));
    const fs = await import("node:fs");
    fs.writeFileSync(${JSON.stringify(out)}, JSON.stringify({ ours, node }));
  `;
}

describe("isTerminal", () => {
  test("a pipe, a file and /dev/null are not terminals, as node:tty's isatty says", () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-isatty-"));
    try {
      const out = join(dir, "out.json");
      const [cmd, args] = evalArgv(terminalProbe(out));
      const file = openSync(join(dir, "file"), "w");
      const r = spawnSync(cmd, args, { stdio: [openSync("/dev/null", "r"), "pipe", file], encoding: "utf8" });
      expect(r.status).toBe(0);
      expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ ours: [false, false, false], node: [false, false, false] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // script(1) runs the probe with a pseudo-terminal on all three descriptors.
  const script = spawnSync("script", ["--version"]).status === 0;
  test.skipIf(!script)("a pseudo-terminal is a terminal on every descriptor, as node:tty's isatty says", () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-isatty-"));
    try {
      const out = join(dir, "out.json");
      const [cmd, args] = evalArgv(terminalProbe(out));
      const quoted = [cmd, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
      const r = spawnSync("script", ["-qec", quoted, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", timeout: 60_000 });
      expect(r.status).toBe(0);
      expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ ours: [true, true, true], node: [true, true, true] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** stdinIsNull in a fresh process, written as JSON to `out`. */
function nullProbe(out: string): string {
  return `
    const m = await import(${JSON.stringify(STDIO)});
    const fs = await import("node:fs");
    fs.writeFileSync(${JSON.stringify(out)}, JSON.stringify(m.stdinIsNull()));
  `;
}

describe("stdinIsNull", () => {
  test("only /dev/null is it: not a pipe (ended or not), nor a file (empty or not)", () => {
    const dir = mkdtempSync(join(tmpdir(), "nexus-stdin-null-"));
    try {
      const out = join(dir, "out.json");
      const [cmd, args] = evalArgv(nullProbe(out));
      const quoted = [cmd, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
      writeFileSync(join(dir, "empty"), "");
      writeFileSync(join(dir, "full"), "data\n");
      // Each through sh, so that the descriptor is what the line says whatever the runtime's spawn does with an empty input.
      const asked = (line: string): unknown => {
        rmSync(out, { force: true });
        const r = spawnSync("sh", ["-c", line.replace("PROBE", quoted)], { cwd: dir, encoding: "utf8" });
        expect(r.status).toBe(0);
        return JSON.parse(readFileSync(out, "utf8"));
      };
      expect(asked("PROBE < /dev/null")).toBe(true);
      expect(asked(": | PROBE")).toBe(false);
      expect(asked("echo data | PROBE")).toBe(false);
      // A pipe whose writer is still there (it ends once the probe has answered).
      expect(asked(`{ while [ ! -e ${JSON.stringify(out)} ]; do sleep 0.05; done; } | PROBE`)).toBe(false);
      expect(asked("PROBE < empty")).toBe(false);
      expect(asked("PROBE < full")).toBe(false);
      // Another device is not it either; /dev/null by another name is.
      expect(asked("PROBE < /dev/zero")).toBe(false);
      symlinkSync("/dev/null", join(dir, "nul"));
      expect(asked("PROBE < nul")).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
