// Destroy loses nothing it cannot name: a worktree that still holds files git does not keep
// (git-ignored ones such as `secrets.local`, or uncommitted ones with --force) is moved into
// `~/.nexus/trash/<id>/files` — a rename, so only on the same filesystem — and can be listed,
// restored or emptied; entries older than `defaults.trash_retention` are purged. Where no rename is
// possible, a destroy without --force refuses and lists the ignored files; --force then deletes them
// and the daemon log names them.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { runGit } from "../git/git.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { NexusError } from "./errors.ts";

export interface TrashEntry {
  id: string;
  workspace: string;
  branch: string;
  /** Where the worktree was. */
  originalPath: string;
  /** Where its files are now. */
  path: string;
  trashedAt: string;
  /** Git-ignored paths it held (the first 100), and how many in all. */
  ignored: string[];
  ignoredCount: number;
  uncommittedCount: number;
}

/** Paths (files, or folders git reports whole) git ignores in the worktree, as `git status` names them. */
export async function ignoredPaths(worktree: string): Promise<string[]> {
  const r = await runGit(["status", "--porcelain", "--ignored=matching", "--untracked-files=all"], worktree);
  if (r.code !== 0) return [];
  return r.stdout.split("\n").filter((l) => l.startsWith("!! ")).map((l) => l.slice(3));
}

export class Trash {
  readonly #dir: string;

  constructor(nexusHome: string) {
    this.#dir = join(nexusHome, "trash");
  }

  /** True when `path` can be renamed into the trash (same filesystem). */
  canHold(path: string): boolean {
    try {
      mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
      return statSync(path).dev === statSync(this.#dir).dev;
    } catch {
      return false;
    }
  }

  /** Moves the worktree at `path` into the trash; answers the entry. */
  put(path: string, info: { workspace: string; branch: string; ignored: string[]; uncommittedCount: number }): TrashEntry {
    const id = `tr-${randomBytes(4).toString("hex")}`;
    const dir = join(this.#dir, id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const files = join(dir, "files");
    renameSync(path, files);
    // The worktree's .git file names git metadata that is going away: it would only confuse a restore.
    rmSync(join(files, ".git"), { force: true });
    const entry: TrashEntry = {
      id,
      workspace: info.workspace,
      branch: info.branch,
      originalPath: path,
      path: files,
      trashedAt: new Date().toISOString(),
      ignored: info.ignored.slice(0, 100),
      ignoredCount: info.ignored.length,
      uncommittedCount: info.uncommittedCount,
    };
    writeFileAtomic(join(dir, "entry.json"), JSON.stringify(entry, null, 2) + "\n", 0o600);
    return entry;
  }

  list(): TrashEntry[] {
    if (!existsSync(this.#dir)) return [];
    const entries: TrashEntry[] = [];
    for (const id of readdirSync(this.#dir)) {
      try {
        entries.push(JSON.parse(readFileSync(join(this.#dir, id, "entry.json"), "utf8")) as TrashEntry);
      } catch {
        // A half-made entry (the daemon stopped mid-move) has no record: left for `empty`.
      }
    }
    return entries.sort((a, b) => a.trashedAt.localeCompare(b.trashedAt));
  }

  get(id: string): TrashEntry {
    const e = this.list().find((x) => x.id === id);
    if (!e) throw new NexusError("NOT_FOUND", `No trash entry '${id}'`, { suggestion: "See 'nexus trash list'", details: { id } });
    return e;
  }

  /** Moves an entry's files back to where the worktree was (or `to`), as a plain folder. */
  restore(id: string, to?: string): { id: string; path: string } {
    const e = this.get(id);
    const dest = to ?? e.originalPath;
    if (existsSync(dest)) {
      throw new NexusError("INVALID_STATE", `${dest} exists already`, { suggestion: "Restore to another place ('to'), or move that folder away first", details: { id, path: dest } });
    }
    mkdirSync(dirname(dest), { recursive: true });
    renameSync(e.path, dest);
    rmSync(join(this.#dir, id), { recursive: true, force: true });
    return { id, path: dest };
  }

  /** Removes one entry, or all of them. */
  empty(id?: string): { removed: string[] } {
    const ids = id ? [this.get(id).id] : existsSync(this.#dir) ? readdirSync(this.#dir) : [];
    for (const x of ids) rmSync(join(this.#dir, x), { recursive: true, force: true });
    return { removed: ids };
  }

  /** Removes entries older than `maxAgeSeconds`. */
  purge(maxAgeSeconds: number, now = Date.now()): string[] {
    const old = this.list().filter((e) => now - Date.parse(e.trashedAt) > maxAgeSeconds * 1000).map((e) => e.id);
    for (const id of old) rmSync(join(this.#dir, id), { recursive: true, force: true });
    return old;
  }
}

/**
 * What destroy does with files git does not keep: undefined (none), or the plan to trash them.
 * Refuses (without --force) when they cannot be renamed into the trash; with --force, names them in
 * the log as they are deleted.
 */
export async function planLeftovers(
  trash: Trash,
  worktree: string,
  opts: { force: boolean; uncommitted: number; workspace: string; log: { info(m: string): void } },
): Promise<{ ignored: string[]; uncommitted: number } | undefined> {
  const ignored = await ignoredPaths(worktree);
  const uncommitted = opts.force ? opts.uncommitted : 0;
  if (ignored.length === 0 && uncommitted === 0) return undefined;
  if (trash.canHold(worktree)) return { ignored, uncommitted };
  if (!opts.force) {
    throw new NexusError("INVALID_STATE", `Workspace '${opts.workspace}' holds ${ignored.length} git-ignored path(s) that destroy would delete (${ignored.slice(0, 5).join(", ")}${ignored.length > 5 ? ", ..." : ""}), and ~/.nexus/trash is on another filesystem`, {
      suggestion: `Copy what you need out of ${worktree} first, or run 'nexus destroy ${opts.workspace} --force' to delete them`,
      details: { workspaceName: opts.workspace, ignored: ignored.slice(0, 100), ignoredCount: ignored.length },
    });
  }
  opts.log.info(`${opts.workspace}: --force deletes ${ignored.length} git-ignored path(s): ${ignored.slice(0, 100).join(", ")}`);
  return undefined;
}
