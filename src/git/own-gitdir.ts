// A workspace's own git dir. The container never sees the host repository's git dir writable: it
// gets a git dir of its own (its refs, index, HEAD, config, objects), mounted where the worktree's
// `.git` file points, so the same `.git` file names the host's git dir on the host and this one
// inside. The host's object store is mounted read-only and named as an alternate, so nothing is
// copied and history is all there; what the workspace commits lands in its own object store. The
// daemon moves commits of the workspace's branch between the two (src/core/git-sync/service.ts).
//
// The daemon writes this directory once, before any container has it; afterwards the workspace owns
// it and the daemon never reads or writes a file in it (it is untrusted), except for lstat (a trigger)
// and a checkpoint's read of its index while no process of the workspace runs (readIndexWhileStill).
import { chmodSync, closeSync, constants, fstatSync, lchownSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { runGit } from "./git.ts";
import type { MountSpec } from "../docker/container-engine.ts";

/** Where the host's object store is mounted, read-only, inside the container. */
export const HOST_OBJECTS = "/nexus/host-git/objects";
const WORKSPACE_DIR = "/workspace";

export type OwnGitLayout =
  /** A worktree at <repo>/.worktree/<name>: the own git dir is mounted at the host's common dir path. */
  | { kind: "worktree"; dir: string; commonDir: string; adminName: string; worktree: string; branch: string }
  /** --no-worktree on a repository: the own git dir is mounted over /workspace/.git. */
  | { kind: "repo"; dir: string; commonDir: string; repo: string; branch: string };

/** Mounts as the engine interface takes them. */
export type Mount = MountSpec;

/** A file of the host's git dir, only when it is a regular file (never through a symlink). */
function regularFile(path: string): Buffer | undefined {
  try {
    return lstatSync(path).isFile() ? readFileSync(path) : undefined;
  } catch {
    return undefined;
  }
}

function isDir(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The name of the worktree's admin dir (`<common>/worktrees/<name>`), from its `.git` file. */
export function worktreeAdminName(worktree: string, commonDir: string): string | undefined {
  const text = regularFile(join(worktree, ".git"))?.toString("utf8") ?? "";
  const m = /^gitdir: (.+)$/m.exec(text);
  if (!m) return undefined;
  const gitdir = m[1]!.trim();
  const prefix = join(commonDir, "worktrees") + "/";
  return gitdir.startsWith(prefix) && !gitdir.slice(prefix.length).includes("/") ? gitdir.slice(prefix.length) : undefined;
}

/** Absolute alternates of the host's object store: mounted read-only at the same path so they resolve inside. */
export function hostAlternates(commonDir: string): string[] {
  const text = regularFile(join(commonDir, "objects", "info", "alternates"))?.toString("utf8") ?? "";
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#") && isAbsolute(l) && isDir(l));
}

/** HEAD text that git accepts: a symbolic ref or an object id. */
function validHead(text: string | undefined, fallback: string): string {
  const t = (text ?? "").trim();
  return /^ref: refs\/[^\s\0]+$/.test(t) || /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(t) ? t + "\n" : fallback;
}

function write(path: string, content: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content, { mode });
}

/**
 * What of the host repository's git dir a workspace's own repository gets, host → workspace being
 * the safe direction: its config, info/exclude, description and shallow file, the hooks (not the
 * samples; they run in the container, never on the host) and, for a worktree, its config.worktree.
 * Paths relative to the git dir.
 */
export function hostRepoFiles(layout: OwnGitLayout): Array<{ path: string; content: Buffer; mode: number }> {
  const { commonDir } = layout;
  const files: Array<{ path: string; content: Buffer; mode: number }> = [];
  const add = (path: string, from: string, mode = 0o644) => {
    const content = regularFile(from);
    if (content) files.push({ path, content, mode });
  };
  add("config", join(commonDir, "config"));
  for (const f of ["info/exclude", "shallow", "description"]) add(f, join(commonDir, f));
  if (isDir(join(commonDir, "hooks"))) {
    for (const h of readdirSync(join(commonDir, "hooks"))) if (!h.endsWith(".sample")) add(`hooks/${h}`, join(commonDir, "hooks", h), 0o755);
  }
  if (layout.kind === "worktree") add("config.worktree", join(commonDir, "worktrees", layout.adminName, "config.worktree"));
  return files;
}

/**
 * Makes the own git dir at `layout.dir` from the host repository: its config, HEAD, index, info/exclude,
 * hooks and shallow file copied (host → workspace is the safe direction), every branch, tag and
 * remote-tracking ref as a packed snapshot, and the host's objects as an alternate. Then hands it
 * to the container user. The directory must not exist yet.
 */
export async function makeOwnGitDir(layout: OwnGitLayout, owner: { uid: number; gid: number }): Promise<void> {
  const { dir, commonDir } = layout;
  mkdirSync(dir, { recursive: false, mode: 0o755 });
  for (const sub of ["objects/info", "objects/pack", "refs/heads", "refs/tags", "info", "hooks", "logs"]) mkdirSync(join(dir, sub), { recursive: true });
  const copied = hostRepoFiles(layout).filter((f) => f.path !== "config.worktree");
  if (!copied.some((f) => f.path === "config")) write(join(dir, "config"), "[core]\n\trepositoryformatversion = 0\n\tbare = false\n");
  for (const f of copied) write(join(dir, f.path), f.content, f.mode);
  write(join(dir, "HEAD"), validHead(regularFile(join(commonDir, "HEAD"))?.toString("utf8"), `ref: refs/heads/${layout.branch}\n`));
  write(join(dir, "objects", "info", "alternates"), [HOST_OBJECTS, ...hostAlternates(commonDir)].join("\n") + "\n");
  // Refs as the host has them now, read by git (packed-refs, loose refs, and any ref backend alike).
  const refs = await runGit(["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags", "refs/remotes"], commonDir);
  const lines = refs.stdout.split("\n").filter((l) => /^[0-9a-f]{40,64} refs\/\S+$/.test(l));
  // No "peeled" trait: git then peels annotated tags itself.
  write(join(dir, "packed-refs"), lines.join("\n") + (lines.length ? "\n" : ""));
  if (layout.kind === "worktree") {
    const admin = join(commonDir, "worktrees", layout.adminName);
    const own = join(dir, "worktrees", layout.adminName);
    mkdirSync(own, { recursive: true });
    write(join(own, "HEAD"), validHead(regularFile(join(admin, "HEAD"))?.toString("utf8"), `ref: refs/heads/${layout.branch}\n`));
    write(join(own, "commondir"), "../..\n");
    // Inside, the worktree is at /workspace: `git worktree prune` in the container then keeps it.
    write(join(own, "gitdir"), `${WORKSPACE_DIR}/.git\n`);
    const index = regularFile(join(admin, "index"));
    if (index) write(join(own, "index"), index);
    const wtConfig = regularFile(join(admin, "config.worktree"));
    if (wtConfig) write(join(own, "config.worktree"), wtConfig);
  } else {
    const index = regularFile(join(commonDir, "index"));
    if (index) write(join(dir, "index"), index);
  }
  chownTree(dir, owner.uid, owner.gid);
}

function chownTree(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
  const st = lstatSync(path);
  if (!st.isDirectory()) return;
  chmodSync(path, 0o755);
  for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

/**
 * The container's mounts for the own git dir: the own dir where the workspace's git looks, the
 * worktree's `.git` file read-only (so the workspace cannot point the host's git elsewhere), and the
 * host's object store read-only.
 */
export function ownGitMounts(layout: OwnGitLayout): Mount[] {
  const ro = (source: string, target: string): Mount => ({ type: "bind", source, target, readOnly: true });
  const mounts: Mount[] = [ro(join(layout.commonDir, "objects"), HOST_OBJECTS), ...hostAlternates(layout.commonDir).map((p) => ro(p, p))];
  if (layout.kind === "worktree") {
    mounts.unshift({ type: "bind", source: layout.dir, target: layout.commonDir }, ro(join(layout.worktree, ".git"), `${WORKSPACE_DIR}/.git`));
  } else {
    mounts.unshift({ type: "bind", source: layout.dir, target: `${WORKSPACE_DIR}/.git` });
    // Other workspaces' worktrees live in the repository: their `.git` files and files stay out of reach.
    const worktrees = join(layout.repo, ".worktree");
    if (isDir(worktrees)) mounts.push(ro(worktrees, `${WORKSPACE_DIR}/.worktree`));
  }
  return mounts;
}

/** Bounds on refTreeFingerprint's walk: a workspace that makes thousands of folders gets a fingerprint that always syncs. */
const TREE_MAX_DIRS = 256;
const TREE_MAX_DEPTH = 8;
export const TREE_OVERFLOW = "overflow";

/**
 * Every folder under the workspace's refs/ (lstat of each; directory entries are listed, no file is
 * read; symlinks are never followed). refsFingerprint watches the workspace's own branch; this one
 * also sees any other branch, tag or the stash move (a ref update renames a file into its folder,
 * which changes that folder's mtime), so "nothing moved" can skip the sync before stop.
 */
export function refTreeFingerprint(layout: OwnGitLayout): string {
  const parts: string[] = [];
  let overflow = false;
  const visit = (dir: string, depth: number) => {
    if (parts.length >= TREE_MAX_DIRS || depth > TREE_MAX_DEPTH) {
      overflow = true;
      return;
    }
    let st;
    try {
      st = lstatSync(dir, { bigint: true });
    } catch {
      parts.push("-");
      return;
    }
    if (!st.isDirectory()) {
      parts.push(`f${st.ino}:${st.mtimeNs}`);
      return;
    }
    parts.push(`${st.ino}:${st.mtimeNs}`);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) if (e.isDirectory()) visit(join(dir, e.name), depth + 1);
  };
  visit(join(layout.dir, "refs"), 0);
  // Too big to watch cheaply: TREE_OVERFLOW, which a check never takes as "nothing moved".
  return overflow ? TREE_OVERFLOW : parts.join("|");
}

/**
 * A cheap fingerprint of where refs change (lstat only, nothing is read): when it moves, a sync may
 * have work to do. "own" looks at the workspace's git dir, "host" at the host's branch, "both" at
 * both. A workspace can fake or hide changes here; that only changes when a sync runs, never what it does.
 */
export function refsFingerprint(layout: OwnGitLayout, side: "own" | "host" | "both" = "both"): string {
  if (side === "both") return `${refsFingerprint(layout, "own")}#${refsFingerprint(layout, "host")}`;
  let out = "";
  for (const p of refPaths(layout)[side]) {
    let part = "-";
    try {
      // No exception for a missing file (packed-refs often is): this runs after every exec.
      const st = lstatSync(p, { bigint: true, throwIfNoEntry: false });
      if (st) part = `${st.ino}:${st.mtimeNs}:${st.size}`;
    } catch {
      // "-" as for a missing one
    }
    out = out === "" ? part : `${out}|${part}`;
  }
  return out;
}

/** What refsFingerprint looks at, made once per layout object (a caller that keeps its layout pays the joins once). */
const refPathsOf = new WeakMap<OwnGitLayout, { own: readonly string[]; host: readonly string[] }>();

function refPaths(layout: OwnGitLayout): { own: readonly string[]; host: readonly string[] } {
  let paths = refPathsOf.get(layout);
  if (paths) return paths;
  const own = layout.dir;
  const branchDir = dirname(`refs/heads/${layout.branch}`);
  paths = {
    own: [
      join(own, "packed-refs"),
      join(own, "refs"),
      join(own, "refs", "heads"),
      join(own, branchDir),
      join(own, "refs", "heads", layout.branch),
      layout.kind === "worktree" ? join(own, "worktrees", layout.adminName) : join(own, "HEAD"),
    ],
    host: [join(layout.commonDir, "packed-refs"), join(layout.commonDir, "refs", "heads", layout.branch)],
  };
  refPathsOf.set(layout, paths);
  return paths;
}

/** The own git dir's index as a file of the host (where the workspace's container sees it: indexPathInside). */
function indexParts(layout: OwnGitLayout): string[] {
  return layout.kind === "worktree" ? ["worktrees", layout.adminName, "index"] : ["index"];
}

/**
 * The own git dir's index, read on the host for a checkpoint (an engine archive read of it holds the
 * container's lock and mounts all its volumes: measured the longest part of the frozen window).
 * Only while no process of the workspace runs (its container frozen or stopped: the caller's
 * promise), so nothing can change a path between the checks and the read: no component may be a
 * link, the file is opened without following one, and must be a regular file with one link, the one
 * checked, of at most `maxBytes`. Undefined when there is no such file (as the engine's read when
 * there is no index); a file that is there but fails a check is refused.
 */
export function readIndexWhileStill(layout: OwnGitLayout, maxBytes = 256 * 1024 * 1024): { content: Buffer; mode: number; uid: number; gid: number } | undefined {
  let path = layout.dir;
  const parts = indexParts(layout);
  for (const [i, part] of parts.entries()) {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (!st.isDirectory()) throw new Error(`${path} in the workspace's git dir is not a folder`);
    path = join(path, part);
    if (i === parts.length - 1) break;
  }
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return undefined;
  if (!st.isFile() || st.nlink !== 1 || st.size > maxBytes) throw new Error(`the workspace's git index (${path}) is not a plain file of at most ${maxBytes} bytes`);
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const f = fstatSync(fd);
    if (!f.isFile() || f.ino !== st.ino || f.dev !== st.dev || f.size > maxBytes) throw new Error(`the workspace's git index (${path}) changed while it was read`);
    const content = Buffer.alloc(f.size);
    let at = 0;
    while (at < f.size) {
      const n = readSync(fd, content, at, f.size - at, at);
      if (n === 0) break;
      at += n;
    }
    return { content: content.subarray(0, at), mode: f.mode & 0o7777, uid: f.uid, gid: f.gid };
  } finally {
    closeSync(fd);
  }
}
