// How the daemon runs git on the host. The repository may be hostile (a cloned `-r` URL, or a git
// dir that an old workspace could write), and the daemon may run as root: git must take no program
// to run from the repository. Every git the daemon starts goes through here.

/**
 * `-c` options placed before the subcommand. Command-line configuration wins over the repository's
 * own, so a planted `core.hooksPath`, `core.fsmonitor` or `core.sshCommand` has no effect; with
 * hooks pointed at /dev/null, `.git/hooks/*` (post-checkout, reference-transaction,
 * post-index-change, ...) never run either.
 */
export function hardeningArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  return [
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    // An ssh command from the repository's config could run anything; the user's own choice
    // (GIT_SSH_COMMAND in the daemon's environment) still wins over this, as git documents.
    "-c", `core.sshCommand=${env.GIT_SSH_COMMAND || "ssh"}`,
    // `ext::` URLs run commands: never, whatever the repository says.
    "-c", "protocol.ext.allow=never",
    // Objects that come from a workspace are checked before they enter the host repository.
    "-c", "transfer.fsckObjects=true",
  ];
}

/** Variables that would point git at another repository, index or config than the one asked for. */
const REPOSITORY_VARIABLES = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_OBJECT_DIRECTORY",
  "GIT_ALTERNATE_OBJECT_DIRECTORIES",
  "GIT_COMMON_DIR",
  "GIT_NAMESPACE",
  "GIT_CEILING_DIRECTORIES",
  "GIT_CONFIG",
  "GIT_CONFIG_PARAMETERS",
  "GIT_CONFIG_COUNT",
  "GIT_EXTERNAL_DIFF",
  "GIT_EDITOR",
  "GIT_SEQUENCE_EDITOR",
  "GIT_PAGER",
];

/**
 * The environment of a hardened git: the daemon's own (PATH, HOME, the user's ssh agent), without
 * variables that redirect git, with the system config off and no prompts.
 */
export function hardenedEnv(base: NodeJS.ProcessEnv = process.env, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    if (v !== undefined && !REPOSITORY_VARIABLES.includes(k) && !k.startsWith("GIT_CONFIG_KEY_") && !k.startsWith("GIT_CONFIG_VALUE_")) env[k] = v;
  }
  return { ...env, GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0", GIT_PAGER: "cat", GIT_OPTIONAL_LOCKS: "0", ...extra };
}
