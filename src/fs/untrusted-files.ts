// Files the daemon opens inside a worktree or a git dir: a workspace (a hostile dependency, a misled
// agent) can put anything there while its container runs. So every such open refuses symlinks that
// lead out of the tree, anything but a regular file (a FIFO would block the daemon; a device node has
// side effects when opened), and files past a size cap; a refusal never quotes the file's contents.
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, writeSync, type Stats } from "node:fs";
import { open } from "node:fs/promises";
import { dirname, relative, resolve, sep } from "node:path";
import { errors, NexusError } from "../kernel/errors.ts";

/** Configuration files are a few KiB; 1 MiB leaves room and keeps the daemon's memory bounded. */
export const MAX_UNTRUSTED_FILE_BYTES = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 5_000;

// O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; O_NOFOLLOW: the last
// component may not be a symlink (the ones before it are checked by where the open file really is).
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0);
const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | (constants.O_NOCTTY ?? 0);

export interface UntrustedReadOptions {
  maxBytes?: number;
  /** Async reads only: give up after this long (a file on a hung mount). */
  timeoutMs?: number;
}

/**
 * The text of `path` (inside `root`), or undefined when it does not exist. Throws PERMISSION_DENIED
 * for a symlink or a path that leads out of `root`, INVALID_ARGUMENT for a non-regular or too large file.
 */
export function readUntrustedFileSync(root: string, path: string, opts: UntrustedReadOptions = {}): string | undefined {
  return readUntrustedBufferSync(root, path, opts)?.toString("utf8");
}

/** readUntrustedFileSync's bytes. */
export function readUntrustedBufferSync(root: string, path: string, opts: UntrustedReadOptions = {}): Buffer | undefined {
  const max = opts.maxBytes ?? MAX_UNTRUSTED_FILE_BYTES;
  const full = resolve(root, path);
  if (!precheck(root, full)) return undefined;
  const fd = openOrExplain(root, full, READ_FLAGS);
  if (fd === undefined) return undefined;
  try {
    checkOpened(root, full, fd, fstatSync(fd), max);
    const buf = Buffer.alloc(Math.min(max + 1, Math.max(1, fstatSync(fd).size + 1)));
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) break;
      got += n;
      if (got > max) throw tooLarge(root, full, max);
      if (got === buf.length) break;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/** readUntrustedFileSync, asynchronously and with a timeout. */
export async function readUntrustedFile(root: string, path: string, opts: UntrustedReadOptions = {}): Promise<string | undefined> {
  const max = opts.maxBytes ?? MAX_UNTRUSTED_FILE_BYTES;
  const full = resolve(root, path);
  if (!precheck(root, full)) return undefined;
  let handle;
  try {
    handle = await open(full, READ_FLAGS);
  } catch (err) {
    return explainOpenError(root, full, err);
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const work = (async () => {
      checkOpened(root, full, handle.fd, await handle.stat(), max);
      const buf = Buffer.alloc(max + 1);
      let got = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buf, got, buf.length - got, null);
        if (bytesRead === 0) break;
        got += bytesRead;
        if (got > max) throw tooLarge(root, full, max);
      }
      return buf.subarray(0, got).toString("utf8");
    })();
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new NexusError("INVALID_ARGUMENT", `Reading ${shown(root, full)} took longer than ${timeoutMs} ms`, { suggestion: "Check the file system the worktree lives on", details: { path: full } })),
        timeoutMs,
      );
    });
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    await handle.close().catch(() => {});
  }
}

/** Appends `text` to `path` inside `root` (made when missing), refusing symlinks and non-regular files. */
export function appendUntrustedFileSync(root: string, path: string, text: string): void {
  const full = resolve(root, path);
  precheck(root, full);
  const fd = openSync(full, APPEND_FLAGS, 0o644);
  try {
    checkOpened(root, full, fd, fstatSync(fd), Number.MAX_SAFE_INTEGER);
    const data = Buffer.from(text, "utf8");
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
  } finally {
    closeSync(fd);
  }
}

/** True when `path` inside `root` is a regular file reached without leaving `root` (no throw). */
export function isUntrustedRegularFile(root: string, path: string): boolean {
  const full = resolve(root, path);
  try {
    if (!insideRealRoot(root, dirname(full))) return false;
    return lstatSync(full).isFile();
  } catch {
    return false;
  }
}

/** Path as messages show it: relative to the tree, never the file's contents. */
function shown(root: string, full: string): string {
  const rel = relative(resolve(root), full);
  return rel && !rel.startsWith("..") ? rel : full;
}

/**
 * Before opening: the folder holding the file must really lie inside `root` (no symlinked folder
 * leading out), and the file itself, when there, must be a regular file. False: it does not exist.
 */
function precheck(root: string, full: string): boolean {
  const rel = relative(resolve(root), full);
  if (rel === "" || rel.startsWith("..") || rel.startsWith(sep)) throw leadsOut(root, full);
  let dirOk: boolean;
  try {
    dirOk = insideRealRoot(root, dirname(full));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return false;
    throw err;
  }
  if (!dirOk) throw leadsOut(root, full);
  let st: Stats;
  try {
    st = lstatSync(full);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
  if (st.isSymbolicLink()) throw symlink(root, full);
  if (!st.isFile()) throw notRegular(root, full);
  return true;
}

function insideRealRoot(root: string, dir: string): boolean {
  const realRoot = realpathSync(root);
  const real = realpathSync(dir);
  return real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
}

function openOrExplain(root: string, full: string, flags: number): number | undefined {
  try {
    return openSync(full, flags);
  } catch (err) {
    return explainOpenError(root, full, err);
  }
}

function explainOpenError(root: string, full: string, err: unknown): undefined {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return undefined;
  if (code === "ELOOP" || code === "EMLINK") throw symlink(root, full);
  if (code === "ENXIO" || code === "EWOULDBLOCK" || code === "EAGAIN") throw notRegular(root, full);
  throw new NexusError("INVALID_ARGUMENT", `Could not open ${shown(root, full)}: ${code ?? "error"}`, { suggestion: "Check the file's permissions", details: { path: full } });
}

/** After opening: a regular file, within the cap, and (where /proc tells) really inside `root`. */
function checkOpened(root: string, full: string, fd: number, st: Stats, max: number): void {
  if (!st.isFile()) throw notRegular(root, full);
  if (st.size > max) throw tooLarge(root, full, max);
  const proc = `/proc/self/fd/${fd}`;
  if (existsSync("/proc/self/fd")) {
    const real = readlinkSync(proc);
    const realRoot = realpathSync(root);
    if (!real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) throw leadsOut(root, full);
  }
}

function leadsOut(root: string, full: string): NexusError {
  return new NexusError("PERMISSION_DENIED", `Refusing ${shown(root, full)}: it leads out of ${resolve(root)}`, {
    suggestion: "Files the daemon reads from a worktree must lie inside it; replace the symlinked folder with a real one",
    details: { path: full },
  });
}

function symlink(root: string, full: string): NexusError {
  return new NexusError("PERMISSION_DENIED", `Refusing ${shown(root, full)}: it is a symlink`, {
    suggestion: "The daemon does not follow symlinks inside a worktree; put a regular file there",
    details: { path: full },
  });
}

function notRegular(root: string, full: string): NexusError {
  return errors.invalidArgument(`Refusing ${shown(root, full)}: it is not a regular file`, "Put a regular file there (not a FIFO, socket, device or folder)", { path: full });
}

function tooLarge(root: string, full: string, max: number): NexusError {
  return errors.invalidArgument(`Refusing ${shown(root, full)}: it is larger than ${max} bytes`, "Keep configuration files small", { path: full, limit: max });
}
