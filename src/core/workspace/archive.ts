// `nexus cp`'s daemon side: a path in the container as a tar stream, and a tar stream put at a path,
// straight through the engine's archive API (docker cp), so home, /etc and any folder outside the
// worktree can be copied. What is written belongs to the container user, whatever the tar says.
import { posix } from "node:path";
import { PassThrough } from "node:stream";
import * as tarStream from "tar-stream";
import type { ContainerPathStat } from "../../docker/container-engine.ts";
import { errors, NexusError } from "../../kernel/errors.ts";
import type { WorkspaceRecord } from "../../kernel/types.ts";
import { containerUser } from "../container-user.ts";
import { safeEntryComponents } from "../../fs/untrusted-tar.ts";
import type { WorkspaceContext } from "./context.ts";
import type { AutoResume, Resumed } from "./wake.ts";

const HOME = "/home/nexus";

/** A container path as the user wrote it: `~` is the home, a relative path starts at /workspace. */
export function containerPath(path: string): string {
  if (path === "" || path.includes("\0")) throw errors.invalidArgument("The path in the workspace must be a non-empty path without NUL bytes", "Write e.g. ws:/etc/hosts, ws:~/.bashrc or ws:src/app.ts (relative to /workspace)");
  const full = path === "~" ? HOME : path.startsWith("~/") ? `${HOME}/${path.slice(2)}` : path.startsWith("/") ? path : `/workspace/${path}`;
  const normal = posix.normalize(full);
  return normal.length > 1 && normal.endsWith("/") ? normal.slice(0, -1) : normal;
}

export interface ArchiveRead {
  path: string;
  stat: ContainerPathStat;
  stream: NodeJS.ReadableStream;
  resumed?: Resumed;
}

export interface ArchiveWrite {
  /** Where the copied tree now is in the container. */
  path: string;
  entries: number;
  bytes: number;
  resumed?: Resumed;
}

export class WorkspaceArchive {
  readonly #c: WorkspaceContext;
  readonly #wake: AutoResume;

  constructor(c: WorkspaceContext, wake: AutoResume) {
    this.#c = c;
    this.#wake = wake;
  }

  /** `path` in the workspace as a tar stream (root entry: its basename); NOT_FOUND when nothing is there. */
  async read(ref: string, path: string): Promise<ArchiveRead> {
    const full = containerPath(path);
    const { r, resumed } = await this.#ready(ref);
    const stat = await this.#c.d.docker.statPath(r.containerId!, full);
    if (!stat) throw notFound(r, full);
    const stream = await this.#c.d.docker.getArchive(r.containerId!, full);
    return { path: full, stat, stream, ...(resumed ? { resumed } : {}) };
  }

  /**
   * Puts the tar `archive` (one root entry) at `path`: into it when it is a folder, else as it (the
   * root renamed to its basename) in its parent folder, which must exist. As docker cp does.
   */
  async write(ref: string, path: string, archive: NodeJS.ReadableStream): Promise<ArchiveWrite> {
    const full = containerPath(path);
    const { r, resumed } = await this.#ready(ref);
    const engine = this.#c.d.docker;
    const st = await engine.statPath(r.containerId!, full);
    let dir = full;
    let rename: string | undefined;
    if (!st?.isDir) {
      dir = posix.dirname(full);
      rename = posix.basename(full);
      const parent = await engine.statPath(r.containerId!, dir);
      if (!parent?.isDir) throw notFound(r, dir, "folder");
    }
    const user = containerUser(this.#c.d.hostUser);
    const counts = { entries: 0, bytes: 0, root: undefined as string | undefined };
    const rewritten = rewrite(archive, { rename, uid: user.uid, gid: user.gid, ontoFile: st !== undefined && !st.isDir, counts });
    await Promise.all([engine.putArchive(r.containerId!, dir, rewritten.pack), rewritten.done]);
    if (counts.root === undefined) throw errors.invalidArgument("The archive was empty: nothing to copy", "Give a file or a folder to copy");
    return { path: posix.join(dir, counts.root), entries: counts.entries, bytes: counts.bytes, ...(resumed ? { resumed } : {}) };
  }

  async #ready(ref: string): Promise<{ r: WorkspaceRecord; resumed?: Resumed }> {
    const resumed = await this.#wake.ifPaused(ref);
    const r = this.#c.resolve(ref);
    if (!r.containerId) throw errors.invalidState(r.name, r.status, "created (it has no container)", `Run 'nexus start ${r.name}'`);
    return { r, ...(resumed ? { resumed } : {}) };
  }
}

/** The tar re-written entry by entry: names checked (and the root renamed), owner set to the container user. */
function rewrite(
  archive: NodeJS.ReadableStream,
  o: { rename?: string; uid: number; gid: number; ontoFile: boolean; counts: { entries: number; bytes: number; root: string | undefined } },
): { pack: NodeJS.ReadableStream; done: Promise<void> } {
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const out = new PassThrough();
  pack.pipe(out);
  const done = new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      out.destroy(err as Error);
      extract.destroy();
      reject(err);
    };
    extract.on("entry", (header, stream, next) => {
      try {
        const parts = safeEntryComponents(header.name);
        if (o.rename) parts[0] = o.rename;
        if (o.counts.root === undefined) {
          o.counts.root = parts[0];
          if (o.ontoFile && header.type === "directory") throw errors.invalidArgument("Cannot copy a folder onto a file in the workspace", "Copy it to a folder, or to a new name");
        } else if (parts[0] !== o.counts.root) throw errors.invalidArgument(`The archive has more than one root ('${o.counts.root}' and '${parts[0]}')`, "Copy one file or folder at a time");
        if (header.type !== "file" && header.type !== "directory" && header.type !== "symlink" && header.type !== "link" && header.type !== "contiguous-file") {
          throw errors.invalidArgument(`The archive entry '${header.name}' is a ${header.type}: only files, folders and links are copied`, "Leave devices and FIFOs out");
        }
        let linkname = header.linkname ?? null;
        if (header.type === "link" && linkname) {
          const l = safeEntryComponents(linkname);
          if (o.rename) l[0] = o.rename;
          linkname = l.join("/");
        }
        o.counts.entries++;
        const entry = pack.entry({ ...header, name: parts.join("/"), linkname, uid: o.uid, gid: o.gid, uname: "", gname: "", pax: null }, (err) => (err ? fail(err) : next()));
        stream.on("data", (chunk: Buffer) => (o.counts.bytes += chunk.length));
        stream.pipe(entry);
      } catch (err) {
        stream.resume();
        fail(err);
      }
    });
    extract.on("finish", () => {
      pack.finalize();
      resolve();
    });
    extract.on("error", (err) => fail(new NexusError("INVALID_ARGUMENT", `The archive is not a valid tar: ${err.message}`, { suggestion: "Send a tar stream (nexus cp builds one)" })));
    archive.on("error", fail);
    archive.pipe(extract);
  });
  return { pack: out, done };
}

function notFound(r: WorkspaceRecord, path: string, what = "file or folder"): NexusError {
  return new NexusError("NOT_FOUND", `No ${what} ${path} in workspace '${r.name}'`, {
    suggestion: `Look with 'nexus exec ${r.name} -- ls -la ${posix.dirname(path)}'`,
    details: { workspaceName: r.name, path },
  });
}
