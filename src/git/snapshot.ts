// A worktree's state (tracked changes and untracked files, not ignored ones) as git objects under a
// ref of its own, written through a temporary index so HEAD, the user's index and the working files
// stay untouched; and the way back. Host git runs hardened (hardened.ts).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { NexusError } from "../kernel/errors.ts";
import { pollUntil } from "../kernel/poll.ts";
import { hardenedEnv, hardeningArgs } from "./hardened.ts";
const AUTHOR = { GIT_AUTHOR_NAME: "nexus", GIT_AUTHOR_EMAIL: "nexus@localhost", GIT_COMMITTER_NAME: "nexus", GIT_COMMITTER_EMAIL: "nexus@localhost" };

export interface WorktreeSnapshot {
  /** The commit under `ref`: its tree is the working files (untracked included, ignored left out). */
  commit: string;
  tree: string;
  /** What the user had staged (null when the index held unmerged entries). */
  indexTree: string | null;
  /** HEAD's commit when taken (null on an unborn branch) and its branch (null when detached). */
  head: string | null;
  branch: string | null;
}

/** Who file operations run as: a daemon running as root acts as the worktree's owner. */
function ownerOf(dir: string): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return undefined;
  const st = statSync(dir);
  return st.uid === 0 ? undefined : { uid: st.uid, gid: st.gid };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: readonly string[], cwd: string, env: Record<string, string> = {}, as?: { uid: number; gid: number }): Promise<Run> {
  // Another user's git must not read root's config (it may not even be allowed to).
  const base = hardenedEnv(process.env, { ...env, ...(as ? { GIT_CONFIG_GLOBAL: "/dev/null", HOME: cwd } : {}) });
  return new Promise((resolve, reject) => {
    execFile("git", [...hardeningArgs(), ...args], { cwd, env: base, maxBuffer: 64 * 1024 * 1024, ...(as ?? {}) }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === "string") {
        reject(new NexusError("INTERNAL_ERROR", `Could not run git: ${err.message}`, { suggestion: "Install git and make sure it is on the daemon's PATH" }));
        return;
      }
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function must(args: readonly string[], cwd: string, env?: Record<string, string>, as?: { uid: number; gid: number }): Promise<string> {
  const r = await run(args, cwd, env, as);
  if (r.code !== 0) {
    throw new NexusError("INTERNAL_ERROR", `git ${args[0]} failed in ${cwd}: ${r.stderr.trim() || r.stdout.trim()}`, {
      suggestion: `Check the worktree with 'git -C ${cwd} status'`,
      details: { args: [...args], cwd },
    });
  }
  return r.stdout.trim();
}

async function optional(args: readonly string[], cwd: string): Promise<string | null> {
  const r = await run(args, cwd);
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

interface TempIndex {
  env: Record<string, string>;
  as: { uid: number; gid: number } | undefined;
  remove(): void;
}

/** The ref a checkpoint's worktree part is kept under. */
export const snapshotRef = (checkpointId: string) => `refs/nexus/checkpoints/${checkpointId}`;

const TEMP_INDEX = /^nexus-checkpoint-[0-9a-f]+\.index(\.lock)?$/;

/**
 * Removes the temporary indexes a daemon killed mid-checkpoint or mid-restore left in the git dir
 * of the worktree at `dir` (each is as big as the real index, and nothing else would ever remove
 * it). Only for a worktree no checkpoint or restore of this daemon works on now.
 */
export async function removeTempIndexes(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const r = await run(["rev-parse", "--absolute-git-dir"], dir);
  const gitDir = r.stdout.trim();
  if (r.code !== 0 || !gitDir || !existsSync(gitDir)) return [];
  const gone = readdirSync(gitDir).filter((f) => TEMP_INDEX.test(f)).map((f) => join(gitDir, f));
  for (const f of gone) rmSync(f, { force: true });
  return gone;
}

const GIT_LOCK = /^(?:nexus-checkpoint-[0-9a-f]+\.index|index)\.lock$/;

/**
 * Waits (up to `timeoutMs`) until no git process holds the index locks of the worktree at `dir`: a
 * daemon killed while restoring leaves its git (read-tree writing the files) running on its own,
 * and the files must not be written back under it. Answers whether they were let go in time.
 */
export async function waitForIndexLocks(dir: string, timeoutMs: number): Promise<boolean> {
  if (!existsSync(dir)) return true;
  const r = await run(["rev-parse", "--absolute-git-dir"], dir);
  const gitDir = r.stdout.trim();
  if (r.code !== 0 || !gitDir) return true;
  const held = () => existsSync(gitDir) && readdirSync(gitDir).some((f) => GIT_LOCK.test(f));
  return (await pollUntil(() => (held() ? undefined : true), { deadline: Date.now() + timeoutMs, intervalMs: 50 })) ?? false;
}

/** A temporary index beside the real one, seeded from it (its stat data makes `add -A` fast). */
async function openTempIndex(dir: string): Promise<TempIndex> {
  // One git process for both answers (each process costs several ms, many more on a loaded machine).
  const [gitDir, rel] = (await must(["rev-parse", "--absolute-git-dir", "--git-path", "index"], dir)).split("\n") as [string, string];
  const real = isAbsolute(rel) ? rel : join(dir, rel);
  const tmp = join(gitDir, `nexus-checkpoint-${randomBytes(4).toString("hex")}.index`);
  const remove = () => {
    rmSync(tmp, { force: true });
    rmSync(`${tmp}.lock`, { force: true });
  };
  try {
    if (existsSync(real)) copyFileSync(real, tmp);
  } catch (err) {
    remove();
    throw err;
  }
  return { env: { GIT_INDEX_FILE: tmp }, as: ownerOf(dir), remove };
}

async function withTempIndex<T>(dir: string, fn: (env: Record<string, string>, as: { uid: number; gid: number } | undefined) => Promise<T>): Promise<T> {
  const t = await openTempIndex(dir);
  try {
    return await fn(t.env, t.as);
  } finally {
    t.remove();
  }
}

/**
 * A snapshot in three steps, so that only the one that reads the working files runs while the
 * container is frozen: prepareSnapshot (HEAD, branch, the user's staged state: the host's own git
 * dir, which the container cannot write), take (every file not ignored, through the temporary
 * index), finish (the commit and the ref). discard() drops one that will not be finished.
 */
export interface PendingSnapshot {
  take(): Promise<void>;
  finish(ref: string, message: string): Promise<WorktreeSnapshot>;
  discard(): void;
}

export async function prepareSnapshot(dir: string, message: string): Promise<PendingSnapshot> {
  // HEAD and its branch are read beside the temporary index's work (they touch no index).
  const headP = optional(["rev-parse", "-q", "--verify", "HEAD^{commit}"], dir);
  const branchP = optional(["symbolic-ref", "-q", "--short", "HEAD"], dir);
  // Heard even when the index work fails first (an unheard rejection would end the daemon); awaited below.
  headP.catch(() => {});
  branchP.catch(() => {});
  const temp = await openTempIndex(dir);
  try {
    const { env, as } = temp;
    // The staged state first (the copy is the user's index as it is).
    const staged = await run(["write-tree"], dir, env, as);
    const indexTree = staged.code === 0 ? staged.stdout.trim() : null;
    const [head, branch] = await Promise.all([headP, branchP]);
    // The staged tree hangs off a commit of its own, a second parent: objects under the ref are never collected.
    const parents: string[] = head ? ["-p", head] : [];
    if (indexTree) parents.push("-p", await must(["commit-tree", indexTree, ...parents, "-m", `${message} (staged)`], dir, { ...env, ...AUTHOR }, as));
    let tree: string | undefined;
    return {
      take: async () => {
        // Everything not ignored, into the copy: its stat data (the user's index) spares hashing unchanged files.
        await must(["add", "-A", "--", "."], dir, env, as);
        tree = await must(["write-tree"], dir, env, as);
      },
      finish: async (ref, msg) => {
        try {
          if (!tree) throw new Error("finish() before take()");
          const commit = await must(["commit-tree", tree, ...parents, "-m", msg], dir, { ...env, ...AUTHOR }, as);
          await must(["update-ref", ref, commit], dir, {}, as);
          return { commit, tree, indexTree, head, branch };
        } finally {
          temp.remove();
        }
      },
      discard: () => temp.remove(),
    };
  } catch (err) {
    temp.remove();
    throw err;
  }
}

/** Records the worktree at `dir` under `ref` (e.g. refs/nexus/checkpoints/<id>). */
export async function snapshotWorktree(dir: string, ref: string, message: string): Promise<WorktreeSnapshot> {
  const pending = await prepareSnapshot(dir, message);
  try {
    await pending.take();
  } catch (err) {
    pending.discard();
    throw err;
  }
  return pending.finish(ref, message);
}

/**
 * Makes the working files of `dir` those of `snapshot` (ignored files stay as they are), and the
 * user's staged state too when HEAD is still where it was. HEAD never moves: when the branch has
 * moved since, the files land on the current HEAD and `headMoved` says so.
 */
export async function restoreWorktree(dir: string, snapshot: Pick<WorktreeSnapshot, "tree" | "indexTree" | "head">): Promise<{ headMoved: boolean }> {
  const headP = optional(["rev-parse", "-q", "--verify", "HEAD^{commit}"], dir);
  headP.catch(() => {}); // heard even when the index work fails first; awaited below
  await withTempIndex(dir, async (env, as) => {
    // The temporary index lists every file there is now (not ignored): --reset -u then removes those
    // the snapshot lacks and writes the ones it has, as `reset --hard` does, without touching HEAD.
    await must(["add", "-A", "--", "."], dir, env, as);
    await must(["read-tree", "--reset", "-u", snapshot.tree], dir, env, as);
  });
  const headMoved = (await headP) !== snapshot.head;
  if (!headMoved && snapshot.indexTree) {
    await must(["read-tree", snapshot.indexTree], dir, {}, ownerOf(dir));
    await run(["update-index", "-q", "--refresh"], dir, {}, ownerOf(dir));
  }
  return { headMoved };
}

export async function deleteSnapshotRef(repo: string, ref: string): Promise<void> {
  if (!existsSync(repo)) return;
  await run(["update-ref", "-d", ref], repo);
}

export async function refExists(repo: string, ref: string): Promise<boolean> {
  return existsSync(repo) && (await run(["rev-parse", "-q", "--verify", ref], repo)).code === 0;
}
