// Git inside a workspace on a remote engine. The host's git dir is on this machine, so it cannot be
// mounted there (own-gitdir.ts does that for a local workspace): the workspace gets a repository of
// its own at /workspace/.git in its volume instead, a clone of the host's refs made from a bundle
// the host's hardened git writes and the daemon streams in over the workspace's SSH connection.
// File sync never carries `.git` (SyncService forces it into the excludes), so the host worktree's
// `.git` file and this directory never meet. From then on service.ts moves commits as for a local
// workspace (bundles made inside, fetched by the host's hardened git into the workspace's own refs
// and checked); the objects a host → workspace move needs go in as a bundle too.
import { shellQuote } from "../../ssh/quote.ts";

/** Where the workspace's repository is inside its container (in the workspace volume, never synced). */
export const REMOTE_GIT_DIR = "/workspace/.git";

/**
 * Makes the repository inside from the bundle on stdin (or empty when `bundled` is false: a host
 * repository with no commits yet): HEAD on the workspace's branch, the index at HEAD's tree (the
 * files themselves are the synced ones, so what differs shows as unstaged changes). Git's own
 * `.git` file, when an old sync brought the host's there, is replaced (the sync ignores `.git`).
 */
export function initLine(branch: string, objectFormat: string, bundled: boolean): string {
  const b = shellQuote(`refs/heads/${branch}`);
  const fmt = objectFormat === "sha256" ? "sha256" : "sha1";
  return [
    "set -e",
    "cd /workspace",
    "if [ -f .git ] || [ -L .git ]; then rm -f .git; fi",
    `git init -q --object-format=${fmt} .`,
    `git symbolic-ref HEAD ${b}`,
    ...(bundled
      ? [
          "cat > .git/nexus-initial.bundle",
          "git -c gc.auto=0 fetch -q --no-tags --update-head-ok .git/nexus-initial.bundle '+refs/*:refs/*'",
          "rm -f .git/nexus-initial.bundle",
          "if git rev-parse -q --verify HEAD >/dev/null; then git reset -q; fi",
        ]
      : []),
  ].join("\n");
}

/** Whether the repository inside is there (a workspace whose volume is new has none yet). */
export const PRESENT_LINE = `if [ -d ${REMOTE_GIT_DIR}/objects ]; then echo present; else echo absent; fi`;

/**
 * A fingerprint of the places refs change inside (as refsFingerprint does with lstat for a local
 * workspace): inode, mtime with nanoseconds and size of each, "-" for a missing one. One round trip;
 * a workspace can fake it, which only changes when a sync runs, never what it does.
 */
export function fingerprintLine(branch: string): string {
  const ref = `refs/heads/${branch}`;
  const dir = ref.slice(0, ref.lastIndexOf("/"));
  const paths = ["packed-refs", "refs", "refs/heads", dir, ref, "HEAD"].map(shellQuote).join(" ");
  return `cd ${REMOTE_GIT_DIR} 2>/dev/null || { echo none; exit 0; }; for p in ${paths}; do stat -c '%i:%y:%s' -- "$p" 2>/dev/null || echo -; done`;
}

/** Takes the objects of a bundle on stdin into the repository inside (no ref moves: git-sync moves the branch itself). */
export const UNBUNDLE_LINE = "set -e; cd /workspace; cat > .git/nexus-incoming.bundle; git bundle unbundle .git/nexus-incoming.bundle >/dev/null; rm -f .git/nexus-incoming.bundle";

/** A file of the host's git dir bigger than this is not copied in (a hook or config is small). */
const MAX_REPO_FILE = 1024 * 1024;

/**
 * Writes what the host repository's git dir gives a workspace (own-gitdir.ts hostRepoFiles: config,
 * info/exclude, hooks, …) into the repository inside, as a local workspace's own git dir has them.
 * Settings that name a place of the host (core.worktree, an absolute core.hooksPath or
 * core.fsmonitor) cannot hold inside: they are dropped there.
 */
export function repoFilesLine(files: ReadonlyArray<{ path: string; content: Buffer; mode: number }>): string {
  const lines = ["set -e", `cd ${REMOTE_GIT_DIR}`];
  for (const f of files) {
    if (f.content.length > MAX_REPO_FILE || f.path.split("/").some((s) => s === "" || s === "." || s === "..")) continue;
    const p = shellQuote(f.path);
    const tmp = shellQuote(`${f.path}.nexus-tmp`);
    if (f.path.includes("/")) lines.push(`mkdir -p ${shellQuote(f.path.slice(0, f.path.lastIndexOf("/")))}`);
    lines.push(`printf %s ${f.content.length ? f.content.toString("base64") : "''"} | base64 -d > ${tmp}`, `chmod ${(f.mode & 0o777).toString(8)} ${tmp}`, `mv -f ${tmp} ${p}`);
  }
  lines.push(
    "git config --unset-all core.worktree 2>/dev/null || true",
    "git config --unset-all core.bare 2>/dev/null || true",
    `for k in core.hooksPath core.fsmonitor; do case "$(git config --get "$k" 2>/dev/null || true)" in /*) git config --unset-all "$k" || true;; esac; done`,
  );
  return lines.join("\n");
}
