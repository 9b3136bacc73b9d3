// Which `nexus exec` words take the hot path (fast-exec.ts). Apart from it, so that main.ts decides
// before loading that path's bundle: `exec -it ws -- bash` and the other forms with flags go to the
// full CLI and no longer load it first.

/**
 * The plain form only: `exec [workspace] -- cmd...` with no flags before `--`. Anything else (flags,
 * --help, a missing `--`) is left to the full CLI, so both parse the same words the same way.
 */
export function isPlainExec(argv: readonly string[]): boolean {
  const sep = argv.indexOf("--");
  if (argv[0] !== "exec" && !(argv[0] === "workspace" && argv[1] === "exec")) return false;
  const before = argv.slice(argv[0] === "exec" ? 1 : 2, sep);
  return sep > 0 && sep < argv.length - 1 && before.length <= 1 && before.every((a) => !a.startsWith("-"));
}
