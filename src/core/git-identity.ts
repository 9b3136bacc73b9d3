// The host's git identity, carried into a workspace so `git commit` works there out of the box:
// user.name, user.email and init.defaultBranch as git on the host resolves them for the repository
// (so includeIf and the repository's own settings count), never the whole host gitconfig (aliases,
// credential helpers and hooks paths of the host have no business inside). They go into the
// container's system gitconfig at every start: the user's own ~/.gitconfig inside still wins.
import type { TarEntry } from "../docker/tar.ts";
import { runGit } from "../git/git.ts";

export interface GitIdentity {
  name?: string;
  email?: string;
  defaultBranch?: string;
}

const KEYS: Record<string, keyof GitIdentity> = { "user.name": "name", "user.email": "email", "init.defaultbranch": "defaultBranch" };

/** What host git says for these keys in `dir` (a repository, or any folder); nothing when git cannot tell. */
export async function hostGitIdentity(dir: string): Promise<GitIdentity> {
  const r = await runGit(["config", "--includes", "--get-regexp", "^(user\\.name|user\\.email|init\\.defaultbranch)$"], dir).catch(() => undefined);
  const id: GitIdentity = {};
  for (const line of r?.code === 0 ? r.stdout.split("\n") : []) {
    const sp = line.indexOf(" ");
    const field = KEYS[(sp > 0 ? line.slice(0, sp) : line).toLowerCase()];
    const value = sp > 0 ? line.slice(sp + 1).trim() : "";
    if (field && value) id[field] = value; // the last one wins, as git's own lookup
  }
  return id;
}

function quote(v: string): string {
  return `"${v.replace(/[\r\n]/g, " ").replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** The container's /etc/gitconfig: the image's safe.directory, and the identity. */
export function systemGitconfig(id: GitIdentity): string {
  let text = "# Written by Nexus at every start: the host's git identity (not its whole gitconfig).\n[safe]\n\tdirectory = *\n";
  if (id.name || id.email) text += "[user]\n" + (id.name ? `\tname = ${quote(id.name)}\n` : "") + (id.email ? `\temail = ${quote(id.email)}\n` : "");
  if (id.defaultBranch) text += `[init]\n\tdefaultBranch = ${quote(id.defaultBranch)}\n`;
  return text;
}

export async function gitIdentityFiles(dir: string): Promise<TarEntry[]> {
  return [{ name: "etc/gitconfig", content: systemGitconfig(await hostGitIdentity(dir)), mode: 0o644 }];
}

/** The image's small editor for `git commit` without -m (SSH sessions read /etc/environment, not the image's ENV). */
export const EDITOR_ENV: Readonly<Record<string, string>> = { EDITOR: "vi", VISUAL: "vi" };
