// The standard streams through the runtime's own primitives, for the CLI's short commands. Loading
// node:fs, node:tty or touching process.stdout costs a compiled `nexus` more than the rest of
// `nexus version` does (Bun evaluates each of those builtins on first import: node:fs alone is about
// as much as the runtime's whole start). Nothing here runs at import.
import { joinAll } from "../kernel/bytes.ts";

type Fd = 0 | 1 | 2;

interface DenoStdio {
  isTerminal(): boolean;
  writeSync(p: Uint8Array): number;
  write(p: Uint8Array): Promise<number>;
  readable: ReadableStream<Uint8Array>;
}
interface DenoGlobal {
  stdin: DenoStdio;
  stdout: DenoStdio;
  stderr: DenoStdio;
}
interface BunGlobal {
  stdin: { stream(): ReadableStream<Uint8Array> };
  stdout: { writer(): BunSink };
  stderr: { writer(): BunSink };
  write(dest: unknown, data: Uint8Array | string): Promise<number>;
}

const deno = (): DenoGlobal | undefined => (globalThis as { Deno?: DenoGlobal }).Deno;
const bun = (): BunGlobal | undefined => (globalThis as { Bun?: BunGlobal }).Bun;

/** Whether the descriptor is a terminal (isatty). */
export function isTerminal(fd: Fd): boolean {
  const d = deno();
  if (d) return (fd === 0 ? d.stdin : fd === 1 ? d.stdout : d.stderr).isTerminal();
  return (bunIsatty ??= ttyWrapIsatty() ?? libcIsatty() ?? nodeIsatty)(fd);
}

let bunIsatty: ((fd: number) => boolean) | undefined;

/**
 * Bun has no isatty of its own in its public API, and node:tty (or process.stdout.isTTY) makes a
 * short command cost about twice the runtime's start: it loads net and streams. First the isatty
 * Bun's node:tty itself calls, `process.binding("tty_wrap").isTTY` (Bun's Node.js compatibility
 * page lists tty_wrap among the bindings it implements): about 3 page faults. The C library's isatty
 * over bun:ffi answers the same but loads bun:ffi's own module first (about 55 page faults, over
 * 1 ms on a 2-core VM: a fifth of `nexus exec`'s own start), so it only stands in where the binding
 * is missing; then node:tty's. test/unit/stdio.test.ts checks the answers against node:tty's on a
 * pipe, a file, /dev/null and a pseudo-terminal.
 */
function ttyWrapIsatty(): ((fd: number) => boolean) | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): { isTTY?: unknown } }).binding("tty_wrap");
    const isTTY = binding.isTTY;
    if (typeof isTTY !== "function") return undefined;
    return (fd) => isTTY.call(binding, fd) === true;
  } catch {
    return undefined;
  }
}

function libcIsatty(): ((fd: number) => boolean) | undefined {
  try {
    const ffi = process.getBuiltinModule("bun:ffi") as typeof import("bun:ffi") | undefined;
    if (!ffi) return undefined;
    const libc = process.platform === "darwin" ? "/usr/lib/libSystem.B.dylib" : "libc.so.6";
    const { symbols } = ffi.dlopen(libc, { isatty: { args: ["i32"], returns: "i32" } });
    return (fd) => symbols.isatty(fd) === 1;
  } catch {
    return undefined;
  }
}

function nodeIsatty(fd: number): boolean {
  return (process.getBuiltinModule("node:tty") as typeof import("node:tty")).isatty(fd);
}

/**
 * Whether standard input is /dev/null, known without reading it: there is nothing to forward, ever.
 * Reading it to find its end costs a compiled `nexus exec` about 50 page faults over 1.5 ms (the
 * runtime's stream machinery, a timer turn, and a thread pool Bun starts after the read), and
 * /dev/null is what scripts, agents and CI give commands they run. Where /proc/self/fd/0 leads is
 * asked of the runtime: Bun has no fstat or readlink of its own, node:fs costs about 190 page faults
 * to load, and Bun.resolveSync resolves an absolute path to its real path (a pipe comes out as
 * "pipe:[inode]"; realStdin). What the path /dev/null names is no input, whatever the node there
 * is: a system whose /dev/null became a regular file (something wrote to it after it was removed)
 * holds output nobody meant as input, and asking the node's kind cost Bun 0.2 ms more (Bun.stdin's
 * first use). Anything else, and a system without /proc, answers false: the caller then reads stdin
 * to see (exec-stdin.ts). A closed stdin is /dev/null by then: the runtimes open it there at start.
 * test/unit/stdio.test.ts checks pipes, files, another device and /dev/null.
 */
export function stdinIsNull(): boolean {
  try {
    const d = deno() as unknown as { realPathSync(p: string): string } | undefined;
    if (d) return d.realPathSync("/proc/self/fd/0") === "/dev/null";
    const b = bun() as (BunGlobal & { resolveSync(specifier: string, from: string): string }) | undefined;
    return b !== undefined && realStdin(b) === "/dev/null";
  } catch {
    return false;
  }
}

/**
 * Where our stdin leads, by Bun's resolver. Through /dev/stdin first: the resolver reads each folder
 * on the way, and /dev is one folder where /proc/self/fd/0 takes three, /proc among them (one entry
 * per process on the machine): about 0.7 ms against 1.3 on a 2-core VM. /proc/self/fd/0 where there
 * is no /dev/stdin.
 */
function realStdin(b: { resolveSync(specifier: string, from: string): string }): string {
  try {
    return b.resolveSync("/dev/stdin", "/");
  } catch {
    return b.resolveSync("/proc/self/fd/0", "/");
  }
}

// Writes to one descriptor go one after another: Bun may finish a later, small write to a pipe
// before an earlier, large one that had to wait for the reader. A write to an idle descriptor starts
// at once, so output keeps its order with whatever else writes there synchronously.
const pending: Partial<Record<1 | 2, Promise<void>>> = {};

/**
 * Writes to stdout (1) or stderr (2); resolves once it is written (so an exit right after loses
 * nothing). A reader that went away (EPIPE) loses nothing anybody could read: that is not an error.
 * Any other failure (a full disk, an I/O error) is: it is kept for `stdioFailure` (the CLI then
 * exits non-zero), and nothing more is written to that descriptor. The promise itself never rejects,
 * so output written without waiting cannot end the process half way.
 */
export function writeStdio(fd: 1 | 2, data: string | Uint8Array): Promise<void> {
  return inTurn(fd, () => writeAll(fd, data));
}

/** Runs a write of `fd` after those before it; what writeStdio says of failures holds for it. */
function inTurn(fd: 1 | 2, writeAll: () => Promise<void>): Promise<void> {
  if (failed[fd] || dropped[fd]) return Promise.resolve();
  const before = pending[fd];
  const write = () => (failed[fd] || dropped[fd] ? Promise.resolve() : writeAll());
  const next = (before ? before.then(write) : write()).catch((err: unknown) => {
    if ((err as { code?: unknown })?.code !== "EPIPE") failed[fd] ??= err instanceof Error ? err : new Error(String(err));
  });
  pending[fd] = next;
  void next.then(() => {
    if (pending[fd] === next) delete pending[fd];
  });
  return next;
}

const failed: Partial<Record<1 | 2, Error>> = {};
const dropped: Partial<Record<1 | 2, true>> = {};

/**
 * After Ctrl-C: what stdout and stderr do not hold yet is given up and nothing more is written, so
 * the exit does not wait for a reader that may never read (a full pipe, a paused terminal), as
 * SIGINT's own default would end the process with it unwritten. A write under way may have written part.
 */
export function dropUnwritten(): void {
  for (const fd of [1, 2] as const) {
    dropped[fd] = true;
    delete pending[fd];
  }
}

/**
 * Waits for every write under way, then says whether one failed other than by EPIPE: the stream and
 * the error (the first one; stdout's before stderr's).
 */
export async function stdioFailure(): Promise<{ fd: 1 | 2; error: Error } | undefined> {
  // One after the other (neither rejects): Promise.all's first use costs a short command more than this.
  await pending[1];
  await pending[2];
  const fd = failed[1] ? 1 : failed[2] ? 2 : undefined;
  return fd ? { fd, error: failed[fd]! } : undefined;
}

function writeAll(fd: 1 | 2, data: string | Uint8Array): Promise<void> {
  if (data.length === 0) return Promise.resolve();
  const d = deno();
  if (d) {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const out = fd === 1 ? d.stdout : d.stderr;
    try {
      for (let off = 0; off < bytes.byteLength; ) off += out.writeSync(bytes.subarray(off));
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }
  // Bun writes a string as UTF-8 itself (as TextEncoder would: a lone surrogate as U+FFFD): no
  // encoder is made, whose first use cost a short command about 0.25 ms.
  const b = bun();
  if (b) return b.write(fd === 1 ? b.stdout : b.stderr, data).then(() => {});
  return Promise.reject(new Error("nexus runs on Bun or Deno"));
}

/**
 * A command's output, which may be much and may meet a reader that never reads (`nexus exec`'s own
 * path, exec-lane.ts): each stream's first 4 KiB by writeStdio, at once (less than any pipe holds, a
 * pipe of one page at the least, so those writes cannot wait for a reader while the pipe was empty
 * before them), the rest by writeStreamed, whose writes wait off the CLI's thread so Ctrl-C goes on.
 * A short command's output stays on writeStdio's path, whose first use costs least (bench/exec.ts).
 */
export function writeOutput(fd: 1 | 2, data: string | Uint8Array): Promise<void> {
  // At most 3 bytes of UTF-8 per UTF-16 unit (a pair of surrogates: 4 for 2).
  const most = typeof data === "string" ? data.length * 3 : data.byteLength;
  if (quickLeft[fd] >= most) {
    quickLeft[fd] -= most;
    return writeStdio(fd, data);
  }
  quickLeft[fd] = 0;
  return writeStreamed(fd, data);
}

const quickLeft: Record<1 | 2, number> = { 1: 4096, 2: 4096 };

/**
 * writeStdio for output the CLI streams while it reads something else and waits for Ctrl-C (exec's
 * output while stdin is forwarded, a followed log): a write that waits for a full pipe waits off
 * the CLI's one thread, so stdin, the daemon's stream and signals go on. writeStdio's writes wait
 * on the thread: Deno's writeSync, and Bun.write too (measured, Bun 1.4.5: no timer ran while it
 * wrote 2 MiB into a pipe nobody read). Deno's write waits on a thread of its blocking pool; Bun's
 * FileSink (Bun.stdout.writer()) keeps what the pipe does not take and writes it as the pipe drains.
 * On a paused terminal Bun's FileSink may still wait on the thread (not measured).
 */
export function writeStreamed(fd: 1 | 2, data: string | Uint8Array): Promise<void> {
  // Output that comes while a write waits joins the next one, if nothing was queued after it: one
  // write per batch, not per line (a followed log's 100,000 lines were 100,000 writes), and text is
  // kept as text until then (100,000 lines held as arrays took 115 MB more under Deno).
  const last = waiting[fd];
  if (last && pending[fd] === last.written) {
    last.parts.push(data);
    return last.written;
  }
  const batch: Batch = { parts: [data], written: Promise.resolve() };
  waiting[fd] = batch;
  batch.written = inTurn(fd, () => {
    if (waiting[fd] === batch) delete waiting[fd];
    return writeParts(fd, batch.parts);
  });
  return batch.written;
}

async function writeParts(fd: 1 | 2, parts: Array<string | Uint8Array>): Promise<void> {
  const d = deno();
  if (d) return denoWriteAll(fd === 1 ? d.stdout : d.stderr, joined(parts));
  const b = bun();
  if (!b) throw new Error("nexus runs on Bun or Deno");
  const sink = (sinks[fd] ??= (fd === 1 ? b.stdout : b.stderr).writer());
  for (const part of parts) {
    const taken = sink.write(part);
    if (taken instanceof Promise) await taken;
  }
  const flushed = sink.flush();
  if (flushed instanceof Promise) await flushed;
}

/** Bun's FileSink of a descriptor: what write and flush answer is a promise while the descriptor is behind. */
interface BunSink {
  write(data: string | Uint8Array): number | Promise<number>;
  flush(): number | Promise<number>;
}

const sinks: Partial<Record<1 | 2, BunSink>> = {};

/** Output for one write of writeStreamed's, not begun yet; `written` once it is. */
interface Batch {
  parts: Array<string | Uint8Array>;
  written: Promise<void>;
}

const waiting: Partial<Record<1 | 2, Batch>> = {};

/** The parts as one array of bytes, text as UTF-8 (runs of text encoded together). */
function joined(parts: Array<string | Uint8Array>): Uint8Array {
  const encoder = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let text = "";
  for (const p of parts) {
    if (typeof p === "string") {
      text += p;
      continue;
    }
    if (text) chunks.push(encoder.encode(text));
    text = "";
    chunks.push(p);
  }
  if (text) chunks.push(encoder.encode(text));
  let size = 0;
  for (const c of chunks) size += c.byteLength;
  return joinAll(chunks, size);
}

/**
 * Standard output for a stream the CLI writes while it reads stdin (the attach's terminal output;
 * nothing else writes to stdout meanwhile), the callback once written. Its writes wait for a full
 * pipe or a paused terminal off the CLI's one thread, so stdin (the detach key), the WebSocket and
 * signals go on.
 * Deno's writeSync (writeStdio's, and Deno's process.stdout's) waits on the thread: Deno's write
 * waits on a thread of its blocking pool (ext/io's StdFileResourceInner::write). Bun's
 * process.stdout waits on the thread for a terminal (as Bun.write does), for a pipe it does not:
 * a terminal is written with node:fs's write, which waits on Bun's thread pool.
 */
export function streamStdout(): StreamSink {
  const d = deno();
  if (d) return { write: (text, written) => void writeStreamed(1, text).then(written) };
  if (!isTerminal(1)) return process.stdout;
  const fs = process.getBuiltinModule("node:fs") as typeof import("node:fs");
  return { write: (text, written) => void inTurn(1, () => fsWriteAll(fs, 1, Buffer.from(text))).then(written) };
}

export interface StreamSink {
  write(text: string, written: () => void): unknown;
}

/** Deno's write may write part. */
async function denoWriteAll(out: DenoStdio, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.byteLength; ) off += await out.write(bytes.subarray(off));
}

async function fsWriteAll(fs: typeof import("node:fs"), fd: number, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.byteLength; ) {
    off += await new Promise<number>((resolve, reject) => fs.write(fd, bytes, off, bytes.byteLength - off, null, (err, n) => (err ? reject(err) : resolve(n))));
  }
}

/** Standard input as a byte stream, read as the consumer pulls (the runtime's reader, not process.stdin). */
export function stdinStream(): ReadableStream<Uint8Array> {
  const d = deno();
  if (d) return d.stdin.readable;
  const b = bun();
  if (b) return b.stdin.stream();
  throw new Error("nexus runs on Bun or Deno");
}
