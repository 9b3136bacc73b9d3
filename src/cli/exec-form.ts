// Which `nexus exec` words take the hot path (fast-exec.ts). Apart from it, so that main.ts decides
// before loading that path's bundle: `exec -it ws -- bash` and the other forms with flags go to the
// full CLI and no longer load it first.

/**
 * The plain form only: `exec [workspace] -- cmd...` with no flags before `--`. Anything else (flags,
 * --help, a missing `--`) is left to the full CLI, so both parse the same words the same way.
 */
export function isPlainExec(argv: readonly string[]): boolean {
  const from = argv[0] === "exec" ? 1 : argv[0] === "workspace" && argv[1] === "exec" ? 2 : 0;
  if (from === 0) return false;
  const sep = argv.indexOf("--");
  // At most one word before `--` (the workspace), not a flag, and a command after it. (No
  // Array.prototype.every: its first use costs every exec 0.3 ms in a compiled binary.)
  return sep >= from && sep <= from + 1 && sep < argv.length - 1 && (sep === from || !argv[from]!.startsWith("-"));
}
