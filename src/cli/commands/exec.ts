// `nexus exec`: runs a command in a workspace; its output streams through and its exit code becomes
// ours. The hot path (agents run it in loops): this module and what it imports are all that
// `nexus exec ws -- cmd` loads (src/cli/fast-exec.ts), so keep its imports lean.
import { NexusError } from "../../core/errors.ts";
import type { CliContext } from "../context.ts";
import { stdinBody, stdinMode, stdinUnlessEnded } from "../exec-stdin.ts";
import { execPrinter, fromBase64 } from "../exec-output.ts";
import { isTerminal } from "../output.ts";
import { dropUnwritten, writeStreamed } from "../../runtime/stdio.ts";
import { untilAborted } from "../../kernel/until-aborted.ts";

/** Runs a command in the workspace over SSH; its stdout/stderr stream through, and its exit code becomes ours. */
export async function execCommand(
  ctx: CliContext,
  ref: string | undefined,
  argv: string[],
  flags: {
    cwd?: string;
    env?: string[] | string;
    timeout?: number;
    detach?: boolean;
    interactive?: boolean;
    tty?: boolean;
    /** Our stdin as `unlessEnded` saw it, when the caller started that look already (src/cli/fast-exec.ts; no -i, no -t). */
    stdin?: Promise<ReadableStream<Uint8Array> | undefined>;
  },
): Promise<number> {
  if (argv.length === 0) {
    throw new NexusError("INVALID_ARGUMENT", "No command given", { suggestion: "Put the command after '--': nexus exec <workspace> -- git status" });
  }
  const ws = ctx.workspace(ref);
  const body: Record<string, unknown> = { command: argv[0], args: argv.slice(1) };
  if (flags.cwd) body.cwd = flags.cwd;
  const env = toList(flags.env);
  if (env.length > 0) body.env = Object.fromEntries(env.map((kv) => splitEnv(String(kv))));
  if (flags.detach) {
    if (flags.timeout !== undefined) throw new NexusError("INVALID_ARGUMENT", "--timeout and --detach do not go together", { suggestion: "A detached command runs until it ends or 'nexus sessions kill <id>'" });
    return (await import("./sessions.ts")).detachedExecCommand(ctx, ws, body);
  }
  if (flags.timeout !== undefined) body.timeout = Number(flags.timeout);
  if (process.env.SSH_AUTH_SOCK) body.agentSocket = process.env.SSH_AUTH_SOCK;
  // -t: a pseudo-terminal of our terminal's size (docker exec -t); stdin per exec-stdin.ts.
  const tty = flags.tty === true;
  if (tty) body.tty = { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24, term: process.env.TERM || "xterm-256color" };
  // Without -t, the runtime's own reader; stdin that has already ended is not forwarded at all.
  const source = flags.stdin && !tty ? await flags.stdin : stdinMode(flags.interactive === true) === "closed" ? undefined : tty ? "process" : await stdinUnlessEnded();
  const input = source ? stdinBody(body, { raw: tty, resize: tty && isTerminal(1) }, source === "process" ? undefined : source) : undefined;
  const client = await ctx.client();
  const abort = new AbortController();
  // Ctrl-C ends the exec whatever our stdout holds (a full pipe would hold the exit for ever).
  const onSigint = () => {
    dropUnwritten();
    abort.abort(new NexusError("INTERNAL_ERROR", "interrupted"));
  };
  process.once("SIGINT", onSigint);
  const stdout: Uint8Array[] = [];
  const stderr: Uint8Array[] = [];
  let resumed: { durationMs: number } | undefined;
  // Output is written while stdin is still forwarded and Ctrl-C must work: off the CLI's thread (stdio.ts).
  const print = execPrinter(ws, writeStreamed);
  try {
    const result = await client.stream(
      "POST",
      `/api/v1/workspaces/${encodeURIComponent(ws)}/exec`,
      input ? input.body : body,
      (e) => {
        if (e.type === "resumed") resumed = { durationMs: Number(e.durationMs) };
        // --json gathers the output; the resumed line goes to stderr either way.
        if (!ctx.json || e.type === "resumed") return print(e);
        (e.type === "stdout" ? stdout : stderr).push(fromBase64(String(e.data ?? "")));
        return undefined;
      },
      abort.signal,
    );
    const exitCode = Number(result.exitCode);
    if (ctx.json) {
      await untilAborted(writeStreamed(1, JSON.stringify({ exitCode, ...(result.signal ? { signal: result.signal } : {}), stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8"), ...(resumed ? { resumed } : {}) }) + "\n"), abort.signal);
    } else {
      await untilAborted(writeStreamed(1, ""), abort.signal);
    }
    return exitCode;
  } catch (err) {
    if (abort.signal.aborted) return 130;
    throw err;
  } finally {
    input?.stop();
    process.off("SIGINT", onSigint);
  }
}

export function toList<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

export function splitEnv(kv: string): [string, string] {
  const i = kv.indexOf("=");
  if (i <= 0) throw new NexusError("INVALID_ARGUMENT", `'${kv}' is not KEY=VALUE`, { suggestion: "Pass environment as --env KEY=VALUE" });
  return [kv.slice(0, i), kv.slice(i + 1)];
}
