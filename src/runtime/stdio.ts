// The standard streams through the runtime's own primitives, for the CLI's short commands. Loading
// node:fs, node:tty or touching process.stdout costs a compiled `nexus` more than the rest of
// `nexus version` does (Bun evaluates each of those builtins on first import: node:fs alone is about
// as much as the runtime's whole start). Nothing here runs at import.

type Fd = 0 | 1 | 2;

interface DenoStdio {
  isTerminal(): boolean;
  writeSync(p: Uint8Array): number;
  readable: ReadableStream<Uint8Array>;
}
interface DenoGlobal {
  stdin: DenoStdio;
  stdout: DenoStdio;
  stderr: DenoStdio;
}
interface BunGlobal {
  stdin: { stream(): ReadableStream<Uint8Array>; size: number };
  stdout: unknown;
  stderr: unknown;
  write(dest: unknown, data: Uint8Array | string): Promise<number>;
}

const deno = (): DenoGlobal | undefined => (globalThis as { Deno?: DenoGlobal }).Deno;
const bun = (): BunGlobal | undefined => (globalThis as { Bun?: BunGlobal }).Bun;

/** Whether the descriptor is a terminal (isatty). */
export function isTerminal(fd: Fd): boolean {
  const d = deno();
  if (d) return (fd === 0 ? d.stdin : fd === 1 ? d.stdout : d.stderr).isTerminal();
  try {
    // Bun's own isatty (what its node:tty calls), without node:tty's import of net and streams.
    const tty = (process as unknown as { binding(name: string): { isTTY(fd: number): boolean } }).binding("tty_wrap");
    return tty.isTTY(fd);
  } catch {
    const { isatty } = process.getBuiltinModule("node:tty") as typeof import("node:tty");
    return isatty(fd);
  }
}

// Writes to one descriptor go one after another: Bun may finish a later, small write to a pipe
// before an earlier, large one that had to wait for the reader. A write to an idle descriptor starts
// at once, so output keeps its order with whatever else writes there synchronously.
const pending: Partial<Record<1 | 2, Promise<void>>> = {};

/**
 * Writes to stdout (1) or stderr (2); resolves once it is written (so an exit right after loses
 * nothing). A reader that went away (EPIPE) loses nothing anybody could read: that is not an error.
 */
export function writeStdio(fd: 1 | 2, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const before = pending[fd];
  const next = (before ? before.then(() => writeAll(fd, bytes)) : writeAll(fd, bytes)).catch(() => {});
  pending[fd] = next;
  void next.then(() => {
    if (pending[fd] === next) delete pending[fd];
  });
  return next;
}

function writeAll(fd: 1 | 2, bytes: Uint8Array): Promise<void> {
  if (bytes.byteLength === 0) return Promise.resolve();
  const d = deno();
  if (d) {
    const out = fd === 1 ? d.stdout : d.stderr;
    try {
      for (let off = 0; off < bytes.byteLength; ) off += out.writeSync(bytes.subarray(off));
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }
  const b = bun();
  if (b) return b.write(fd === 1 ? b.stdout : b.stderr, bytes).then(() => {});
  return Promise.reject(new Error("nexus runs on Bun or Deno"));
}

/** Standard input as a byte stream, read as the consumer pulls (the runtime's reader, not process.stdin). */
export function stdinStream(): ReadableStream<Uint8Array> {
  const d = deno();
  if (d) return d.stdin.readable;
  const b = bun();
  if (b) return b.stdin.stream();
  throw new Error("nexus runs on Bun or Deno");
}
