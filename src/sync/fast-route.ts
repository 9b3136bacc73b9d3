// The fast route of the unison provider: the small files the watchers named are read on both sides
// (one round trip to the workspace's long-lived shell, agent.ts) and, where fast-decide.ts finds
// that only one side changed, written over the other with a compare-and-swap (the target must still
// be what was just read, checked again at the write; then a temporary file renamed into place, mode
// and mtime kept). Whatever it does not settle goes to the unison pass as before. Unison's archives
// do not know of these copies yet: the paths are handed back to be confirmed by a later unison pass
// over them, which finds both sides "changed in identical ways" and records it (no transfer).
import { createHash } from "node:crypto";
import { chmodSync, lstatSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { SyncConfig } from "./config.ts";
import { decide, FAST_MAX_BYTES, fastPathOk, type FileState } from "./fast-decide.ts";
import type { InsideWrite } from "./fast-script.ts";
import type { InsideFiles } from "./inside-files.ts";
import type { SyncSide } from "./types.ts";

export interface FastResult {
  /** Settled here (copied, or found equal): to be confirmed by a later unison pass. */
  settled: string[];
  /** For the unison pass. */
  unison: string[];
  copied: Array<{ path: string; from: SyncSide; bytes: number }>;
}

/** What one request may carry inside (base64 in a shell line); past it, the rest goes to unison. */
const BATCH_BYTES = 2 * 1024 * 1024;
const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");

/**
 * Whether every folder on the way from `root` to `path` is a real folder here, not a link. The
 * workspace names paths (its watcher and its answers are untrusted): `evil/authorized_keys` under a
 * worktree link `evil -> ~/.ssh` would otherwise be read or written outside the worktree. Unison
 * itself never goes through a link (it syncs the link); such paths are left to it.
 */
function foldersReal(root: string, path: string): boolean {
  const parts = path.split("/");
  let at = root;
  for (const part of parts.slice(0, -1)) {
    at = join(at, part);
    try {
      if (!lstatSync(at).isDirectory()) return false;
    } catch {
      return true; // missing from here on: nothing to follow (the file is absent, its folder too)
    }
  }
  return true;
}

/** A file's state on this machine (the worktree side); a path through a link is "other" (unison's). */
export function hostState(root: string, path: string): FileState {
  if (!foldersReal(root, path)) return { kind: "other" };
  const abs = join(root, path);
  let st;
  try {
    st = lstatSync(abs, { bigint: true });
  } catch {
    let parent = false;
    try {
      parent = statSync(dirname(abs)).isDirectory();
    } catch {
      // No folder either.
    }
    return { kind: "absent", parent };
  }
  if (!st.isFile()) return { kind: "other" };
  if (st.size > BigInt(FAST_MAX_BYTES)) return { kind: "big" };
  let content: Buffer;
  try {
    content = readFileSync(abs);
  } catch {
    return { kind: "other" };
  }
  // mtimeNs where the runtime gives it (Node, Bun); else the milliseconds (unison compares seconds).
  const ns = typeof st.mtimeNs === "bigint" ? st.mtimeNs : BigInt(Math.round(Number(st.mtimeMs) * 1e6));
  const mtime = `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, "0")}`;
  return { kind: "file", hash: md5(content), size: content.length, mode: Number(st.mode & 0o7777n), mtime, content };
}

/** Writes a file here only if its path still is `expect`; false when it is not (changed meanwhile). */
export function writeHost(root: string, path: string, expect: string, src: Extract<FileState, { kind: "file" }>, tag: string): boolean {
  const now = hostState(root, path);
  const cur = now.kind === "file" ? now.hash : now.kind === "absent" ? "absent" : null;
  if (cur !== expect) return false;
  // hostState checked the folders on the way just now; nothing but the daemon and the user writes here.
  const abs = join(root, path);
  const tmp = join(dirname(abs), `.unison.nexus.${process.pid}.${tag}.unison.tmp`);
  try {
    writeFileSync(tmp, src.content ?? Buffer.alloc(0), { mode: src.mode });
    chmodSync(tmp, src.mode);
    const t = Number(src.mtime);
    utimesSync(tmp, t, t);
    renameSync(tmp, abs);
    return true;
  } catch {
    rmSync(tmp, { force: true });
    return false;
  }
}

export class FastRoute {
  readonly #inside: InsideFiles;
  readonly #hostRoot: string;
  readonly #remoteRoot: string;
  /** Path → the content hash both sides last held at once (null: neither had it). */
  readonly #agreed = new Map<string, string | null>();
  #writes = 0;

  constructor(inside: InsideFiles, hostRoot: string, remoteRoot: string) {
    this.#inside = inside;
    this.#hostRoot = hostRoot;
    this.#remoteRoot = remoteRoot.replace(/\/+$/, "") || "/";
  }

  /** What a unison pass changed (or found in conflict) is no longer known to be agreed; `all` after a full pass that moved things. */
  forget(paths: Iterable<string>): void {
    for (const p of paths) {
      for (const k of this.#agreed.keys()) if (k === p || k.startsWith(`${p}/`)) this.#agreed.delete(k);
    }
  }

  clear(): void {
    this.#agreed.clear();
  }

  #states(paths: string[]): Promise<FileState[] | null> {
    return this.#inside.states(this.#remoteRoot, paths);
  }

  /** After a unison pass over `paths`: where both sides now hold the same file, that is agreed (one round trip). */
  async learn(paths: string[]): Promise<void> {
    const ok = paths.filter(fastPathOk);
    if (ok.length === 0) return;
    const remote = await this.#states(ok).catch(() => null);
    if (!remote) return;
    ok.forEach((p, i) => {
      const h = hostState(this.#hostRoot, p);
      const w = remote[i]!;
      if (h.kind === "file" && w.kind === "file" && h.hash === w.hash) this.#agreed.set(p, h.hash);
    });
  }

  /** Settles what it can of `named` (path → the watchers that named it); `skip` paths go to unison untouched. */
  async route(named: ReadonlyMap<string, ReadonlySet<SyncSide>>, config: Pick<SyncConfig, "mode" | "strategy">, skip: (path: string) => boolean): Promise<FastResult> {
    const result: FastResult = { settled: [], unison: [], copied: [] };
    const paths: string[] = [];
    for (const p of named.keys()) (fastPathOk(p) && !skip(p) ? paths : result.unison).push(p);
    if (paths.length === 0) return result;
    const remote = await this.#states(paths).catch(() => null);
    if (!remote) return { ...result, unison: [...result.unison, ...paths] };
    const toInside: Array<InsideWrite & { hash: string; size: number }> = [];
    let budget = BATCH_BYTES;
    paths.forEach((path, i) => {
      const host = hostState(this.#hostRoot, path);
      const workspace = remote[i]!;
      const d = decide({ path, host, workspace, agreed: this.#agreed.get(path), namedBy: named.get(path)!, config });
      if (d.action === "same") {
        this.#agreed.set(path, d.hash);
        result.settled.push(path);
      } else if (d.action === "copy" && d.from === "host" && host.kind === "file" && host.size <= budget) {
        budget -= host.size;
        toInside.push({ path, expect: d.expect, content: host.content!, mode: host.mode, mtime: host.mtime, hash: host.hash, size: host.size });
      } else if (d.action === "copy" && d.from === "workspace" && workspace.kind === "file") {
        if (writeHost(this.#hostRoot, path, d.expect, workspace, String(this.#writes++))) {
          this.#agreed.set(path, workspace.hash);
          result.settled.push(path);
          result.copied.push({ path, from: "workspace", bytes: workspace.size });
        } else result.unison.push(path);
      } else result.unison.push(path);
    });
    if (toInside.length > 0) {
      const answers = await this.#inside.write(this.#remoteRoot, toInside).catch(() => [] as string[]);
      toInside.forEach((w, i) => {
        if (answers[i] === "ok") {
          this.#agreed.set(w.path, w.hash);
          result.settled.push(w.path);
          result.copied.push({ path: w.path, from: "host", bytes: w.size });
        } else result.unison.push(w.path);
      });
    }
    return result;
  }
}
