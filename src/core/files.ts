// Files inside a workspace, read and written over the same SSH exec as every command, and confined
// to /workspace: every transport (gRPC, WebSocket) goes through here, so they refuse the same paths.
import { posix } from "node:path";
import { errors, NexusError } from "./errors.ts";
import type { ExecInput } from "./inputs.ts";
import type { WorkspaceService } from "./workspaces.ts";

export const WORKSPACE_ROOT = "/workspace";
/** Base64 bytes per exec when writing: one argument must stay under Linux's 128 KiB MAX_ARG_STRLEN. */
const WRITE_CHUNK_BYTES = 72 * 1024;

export interface DirEntry {
  path: string;
  type: "file" | "directory" | "symlink" | "other";
  size: number;
}

/**
 * The absolute path inside the container for a caller's path, or PERMISSION_DENIED: relative paths
 * are taken from /workspace; `..` segments and absolute paths outside /workspace are refused here,
 * symlinks that lead out are refused in the container (realpath) by the scripts below.
 */
export function confinePath(path: string): string {
  if (typeof path !== "string" || path === "") throw errors.invalidArgument("path must be a non-empty string", "Give a path inside /workspace");
  if (path.includes("\0")) throw errors.invalidArgument("path must not contain NUL bytes", "Give a path inside /workspace");
  if (path.split("/").includes("..")) throw outside(path);
  const abs = posix.normalize(path.startsWith("/") ? path : posix.join(WORKSPACE_ROOT, path));
  const clean = abs.length > 1 && abs.endsWith("/") ? abs.slice(0, -1) : abs;
  if (clean !== WORKSPACE_ROOT && !clean.startsWith(`${WORKSPACE_ROOT}/`)) throw outside(path);
  return clean;
}

function outside(path: string): NexusError {
  return new NexusError("PERMISSION_DENIED", `Path '${path}' is outside /workspace`, {
    suggestion: "Only files under /workspace can be read or written",
    details: { path },
  });
}

// Resolves symlinks in the container and refuses anything that ends up outside /workspace (exit 91).
const CONFINE = `p=$(realpath -m -- "$1") || exit 90
case "$p" in ${WORKSPACE_ROOT}|${WORKSPACE_ROOT}/*) ;; *) exit 91;; esac
`;
const READ = `${CONFINE}[ -e "$p" ] || exit 92
[ -d "$p" ] && exit 93
exec cat -- "$p"`;
const WRITE = `${CONFINE}[ -d "$p" ] && exit 93
t="$p.nexus-upload-$2"
if [ "$3" = first ]; then mkdir -p -- "$(dirname -- "$p")" && : > "$t" || exit 94; fi
printf %s "$4" | base64 -d >> "$t" || { rm -f -- "$t"; exit 94; }
if [ "$5" = last ]; then chmod "$6" "$t" && mv -f -- "$t" "$p" || { rm -f -- "$t"; exit 94; }; fi`;
const READDIR = `${CONFINE}[ -e "$p" ] || exit 92
[ -d "$p" ] || exit 95
if [ "$2" = yes ]; then exec find "$p" -mindepth 1 -printf '%y\\t%s\\t%P\\n'; fi
exec find "$p" -mindepth 1 -maxdepth 1 -printf '%y\\t%s\\t%P\\n'`;

/** File operations on a workspace's /workspace; needs the workspace running (they run over SSH). */
export class WorkspaceFiles {
  readonly #ws: WorkspaceService;

  constructor(workspaces: WorkspaceService) {
    this.#ws = workspaces;
  }

  /** Streams a file's bytes to onChunk as they come; resolves with the byte count. */
  async readFile(ref: string, path: string, onChunk: (b: Buffer) => unknown, signal?: AbortSignal): Promise<number> {
    const target = confinePath(path);
    let size = 0;
    const err: Buffer[] = [];
    const exit = await this.#ws.exec(ref, script(READ, [target]), {
      // A promise from onChunk (its reader is behind) pauses the read: `cat` blocks behind the SSH window.
      onStdout: (b) => {
        size += b.length;
        return onChunk(b);
      },
      onStderr: (b) => err.push(b),
      ...(signal ? { signal } : {}),
    });
    check(exit.exitCode, path, Buffer.concat(err).toString("utf8"));
    return size;
  }

  async readFileBuffer(ref: string, path: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.readFile(ref, path, (b) => parts.push(b));
    return Buffer.concat(parts);
  }

  /** Writes the whole file (to a temporary name beside it, renamed into place at the end). */
  async writeFile(ref: string, path: string, data: Buffer, mode = 0o644): Promise<{ path: string; bytesWritten: number }> {
    const target = confinePath(path);
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw errors.invalidArgument("mode must be a file mode such as 0644", "Give the mode as a number (0o644 = 420)");
    const tag = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const chunks = Math.max(1, Math.ceil(data.length / WRITE_CHUNK_BYTES));
    for (let i = 0; i < chunks; i++) {
      const part = data.subarray(i * WRITE_CHUNK_BYTES, (i + 1) * WRITE_CHUNK_BYTES).toString("base64");
      const args = [target, tag, i === 0 ? "first" : "more", part, i === chunks - 1 ? "last" : "more", mode.toString(8)];
      const r = await this.#ws.execCollect(ref, script(WRITE, args));
      check(r.exitCode, path, r.stderr);
    }
    return { path: target, bytesWritten: data.length };
  }

  async readdir(ref: string, path: string, recursive = false): Promise<DirEntry[]> {
    const target = confinePath(path);
    const r = await this.#ws.execCollect(ref, script(READDIR, [target, recursive ? "yes" : "no"]));
    check(r.exitCode, path, r.stderr);
    const types: Record<string, DirEntry["type"]> = { f: "file", d: "directory", l: "symlink" };
    return r.stdout
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => {
        const [t, size, ...rest] = l.split("\t");
        return { path: rest.join("\t"), type: types[t ?? ""] ?? "other", size: Number(size) || 0 };
      })
      .sort((a, b) => a.path.localeCompare(b.path));
  }
}

function script(body: string, args: string[]): ExecInput {
  return { command: "sh", args: ["-c", body, "sh", ...args], cwd: WORKSPACE_ROOT };
}

function check(exitCode: number, path: string, stderr: string): void {
  switch (exitCode) {
    case 0:
      return;
    case 91:
      throw new NexusError("PERMISSION_DENIED", `Path '${path}' leads outside /workspace`, {
        suggestion: "Only files under /workspace can be read or written (symlinks out of it are refused)",
        details: { path },
      });
    case 92:
      throw new NexusError("NOT_FOUND", `No file '${path}' in the workspace`, { suggestion: "Check the path (relative paths start at /workspace)", details: { path } });
    case 93:
      throw errors.invalidArgument(`'${path}' is a directory`, "Use fs.readdir for directories", { path });
    case 95:
      throw errors.invalidArgument(`'${path}' is not a directory`, "Use fs.readFile for files", { path });
    default:
      throw new NexusError("INTERNAL_ERROR", `File operation on '${path}' failed (exit ${exitCode}): ${stderr.trim()}`, {
        suggestion: "Check the path and the file's permissions in the workspace",
        details: { path, exitCode },
      });
  }
}
