// `nexus exec <workspace> -- <command...>` without the full command table: exec is the hot path
// (agents run it in loops), and parsing every command's definition costs a few ms per call. What
// this module imports is bundled with it into one module of the binary (scripts/hot-paths.ts).
import { stdinMode, stdinUnlessEnded } from "./exec-stdin.ts";
import { toNexusError } from "../core/errors.ts";
import { exitCodeFor } from "./exit-codes.ts";
import { nexusPaths } from "../store/paths.ts";
import { execCommand } from "./commands/exec.ts";
import { CliContext } from "./context.ts";
import { formatError, useColor, writeErr } from "./output.ts";

/** `exec [workspace] -- cmd...` as isPlainExec (exec-form.ts) took it. */
export async function runPlainExec(argv: readonly string[], env: Record<string, string | undefined>): Promise<number> {
  const sep = argv.indexOf("--");
  const ws = argv.slice(argv[0] === "exec" ? 1 : 2, sep)[0];
  // The plain form has no -i and no -t: execCommand would decide the same (exec-stdin.ts).
  const stdin = stdinMode(false) === "closed" ? Promise.resolve(undefined) : stdinUnlessEnded();
  const ctx = new CliContext(nexusPaths(env), {}, env);
  try {
    return await execCommand(ctx, ws, argv.slice(sep + 1), { stdin });
  } catch (err) {
    const e = toNexusError(err);
    await writeErr(formatError(e, useColor(2)));
    return exitCodeFor(e);
  } finally {
    // An exec that failed before it read our stdin (no such workspace) leaves no read behind.
    void stdin.then((s) => s?.cancel().catch(() => {}), () => {});
  }
}
