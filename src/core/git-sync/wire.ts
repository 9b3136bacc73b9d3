// The workspace side of git sync (service.ts), reached only over the workspace's SSH connection:
// git commands run inside, its refs read (every line checked: the answer is untrusted), and commits
// carried both ways as bundles. A bundle the workspace makes is fetched by the host's hardened git
// (host.ts), never opened by anything else on the host.
import { closeSync, createReadStream, openSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { shellQuote } from "../../ssh/quote.ts";
import { NexusError } from "../errors.ts";
import type { WorkspaceRecord } from "../types.ts";
import type { GitSyncDeps } from "./service.ts";
import { git } from "./host.ts";
import { UNBUNDLE_LINE } from "./remote-git.ts";

/** A bundle bigger than this is refused (a workspace must not fill the host's disk through the daemon). */
export const MAX_BUNDLE_BYTES = 2 * 1024 * 1024 * 1024;
/** A workspace must not hold a sync (and so a destroy) forever. */
const COMMAND_TIMEOUT_MS = 60_000;
const BUNDLE_TIMEOUT_MS = 10 * 60_000;

export interface InsideRefs {
  refs: Map<string, string>;
  head?: string;
}

export class WorkspaceGitWire {
  readonly #d: Pick<GitSyncDeps, "exec" | "paths">;

  constructor(deps: Pick<GitSyncDeps, "exec" | "paths">) {
    this.#d = deps;
  }

  /** Refs of the workspace's git dir, read by git inside; every line is checked (the answer is untrusted). */
  async insideRefs(r: WorkspaceRecord): Promise<InsideRefs> {
    const out = await this.run(r, "cd /workspace && git for-each-ref --format='%(objectname) %(refname)' refs/heads refs/stash && printf 'HEAD %s\\n' \"$(git rev-parse -q --verify HEAD)\"");
    const refs = new Map<string, string>();
    let head: string | undefined;
    for (const line of out.split("\n")) {
      const m = /^([0-9a-f]{40}(?:[0-9a-f]{24})?) (refs\/heads\/[^\s~^:?*[\\\x00-\x1f\x7f]+|refs\/stash)$/.exec(line);
      if (m && !/\.\.|@\{|\.lock$|\/\.|\/\/|\/$/.test(m[2]!)) refs.set(m[2]!, m[1]!);
      const h = /^HEAD ([0-9a-f]{40}(?:[0-9a-f]{24})?)$/.exec(line);
      if (h) head = h[1];
    }
    return { refs, ...(head ? { head } : {}) };
  }

  async run(r: WorkspaceRecord, line: string, stdin?: Uint8Array | AsyncIterable<Uint8Array>): Promise<string> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timeout = stdin ? BUNDLE_TIMEOUT_MS : COMMAND_TIMEOUT_MS;
    const exit = await this.#d.exec(r, line, { onStdout: (b) => out.push(b), onStderr: (b) => err.push(b), signal: AbortSignal.timeout(timeout), ...(stdin ? { stdin } : {}) });
    if (exit.exitCode !== 0) {
      throw new NexusError("INTERNAL_ERROR", `git in workspace ${r.name} failed (exit ${exit.exitCode}): ${Buffer.concat(err).toString("utf8").trim().slice(0, 500)}`, {
        suggestion: `Look with 'nexus exec ${r.name} -- git status'`,
      });
    }
    return Buffer.concat(out).toString("utf8");
  }

  /** A bundle made inside, streamed over SSH to a file of the daemon's, fetched by the host's hardened git. */
  async fetchBundle(r: WorkspaceRecord, repo: string, refs: Array<{ from: string; to: string }>, exclude: string[]): Promise<void> {
    const file = join(this.#d.paths.workspaceDir(r.id), "incoming.bundle");
    const fd = openSync(file, "w", 0o600);
    let size = 0;
    let tooBig = false;
    const err: Buffer[] = [];
    try {
      // Only the excluded commits the workspace has (a remote workspace's repository lacks what the host made since) go to --stdin.
      const have = `for s in ${exclude.map(shellQuote).join(" ")}; do git cat-file -e "$s^{commit}" 2>/dev/null && echo "^$s"; done`;
      const line = `cd /workspace && { ${exclude.length ? have : "true"}; } | git bundle create -q - ${[...new Set(refs.map((x) => x.from))].map(shellQuote).join(" ")} --stdin`;
      const exit = await this.#d.exec(r, line, {
        onStdout: (b) => {
          size += b.length;
          if (size > MAX_BUNDLE_BYTES) tooBig = true;
          else writeSync(fd, b);
        },
        onStderr: (b) => err.push(b),
        signal: AbortSignal.timeout(BUNDLE_TIMEOUT_MS),
      });
      if (tooBig) throw new NexusError("RESOURCE_EXHAUSTED", `The commits of workspace ${r.name} make a bundle over ${MAX_BUNDLE_BYTES} bytes; not taken`, { suggestion: "Push them from inside the workspace instead" });
      if (exit.exitCode !== 0) throw new NexusError("INTERNAL_ERROR", `git bundle in workspace ${r.name} failed: ${Buffer.concat(err).toString("utf8").trim().slice(0, 500)}`, { suggestion: `Look with 'nexus exec ${r.name} -- git status'` });
    } finally {
      closeSync(fd);
    }
    try {
      const specs = refs.map((x) => `+${x.from}:${x.to}`);
      await git(repo, ["-c", "gc.auto=0", "-c", "maintenance.auto=false", "fetch", "-q", "--no-tags", "--no-write-fetch-head", "--", file, ...specs]);
    } finally {
      rmSync(file, { force: true });
    }
  }

  /** Host → remote workspace: the objects of `ref` that `have` (a commit inside) lacks go in as a bundle. */
  async sendObjects(r: WorkspaceRecord, repo: string, ref: string, have: string): Promise<void> {
    const file = join(this.#d.paths.workspaceDir(r.id), "outgoing.bundle");
    try {
      await git(repo, ["-c", "gc.auto=0", "bundle", "create", "-q", file, ref, "--not", have]);
      if (statSync(file).size > MAX_BUNDLE_BYTES) throw new NexusError("RESOURCE_EXHAUSTED", `The host's new commits on ${ref} make a bundle over ${MAX_BUNDLE_BYTES} bytes; not sent to workspace ${r.name}`, { suggestion: "Fetch them inside from a remote instead" });
      await this.run(r, UNBUNDLE_LINE, createReadStream(file));
    } finally {
      rmSync(file, { force: true });
    }
  }

  /** Host → workspace: moves the branch inside (compare-and-swap) and brings its index along when it was clean. */
  async moveInside(r: WorkspaceRecord, branch: string, from: string, to: string): Promise<string | undefined> {
    const ref = shellQuote(`refs/heads/${branch}`);
    const out = await this.run(
      r,
      `cd /workspace && git update-ref -m 'nexus: commits from the host' ${ref} ${to} ${from} && ` +
        `if [ "$(git symbolic-ref -q HEAD)" = ${ref} ]; then if git diff-index --cached --quiet ${from} --; then git reset -q ${to} -- . && { git update-index -q --refresh >/dev/null; true; }; else echo staged; fi; fi`,
    );
    return out.includes("staged") ? `the workspace's index has staged changes, so it was not brought to ${to.slice(0, 12)} (run 'git reset' inside to see the new commits as they are)` : undefined;
  }
}
