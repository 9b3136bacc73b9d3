// `nexus exec <workspace> -- <command...>` (the plain form, exec-form.ts) on the shortest path there
// is, for what agents and scripts run in loops: no terminal to drive and nothing on stdin to forward.
// A short command's time is mostly the first run of its code (each function and each of the
// runtime's builtins costs on its first use: bench/exec.ts shows it above the floor), so this path
// runs one request and nothing else: the body and headers the full command sends (commands/exec.ts
// through DaemonClient.stream), over the same socket client (client.ts socketEvents), printed by the
// same printer (exec-output.ts), its errors said as fast-exec.ts says them.
//
// What the full path does differently is left to it (fast-exec.ts), before anything runs: a daemon
// given by NEXUS_URL, no workspace named (the active one is read from a file), stdin that is a pipe or
// a file (its bytes are forwarded), a runtime without Bun's sockets. So are the two failures after
// which the full path sends the request again because nothing ran: no daemon answering (it starts
// one) and a daemon of another build, which turns the request away before running it (it replaces
// that daemon). What it imports is bundled with it into one module of the binary (scripts/hot-paths.ts).
import { NexusError, toNexusError } from "../core/errors.ts";
import { untilAborted } from "../kernel/until-aborted.ts";
import { dropUnwritten, isTerminal, stdinIsNull, writeOutput } from "../runtime/stdio.ts";
import { unixStreamAvailable } from "../runtime/unix-stream.ts";
import { nexusPaths } from "../store/paths.ts";
import { buildId } from "../version.ts";
import { mayResend, socketEvents, warmEvents } from "./client.ts";
import { execPrinter } from "./exec-output.ts";
import { exitCodeFor } from "./exit-codes.ts";
import { formatError, useColor, writeErr, writeOut } from "./output.ts";
import { requestHeaders } from "./request-headers.ts";

type Env = Record<string, string | undefined>;

/** The command's exit code, or undefined when the full path (fast-exec.ts) must do it. */
export async function runExecLane(argv: readonly string[], env: Env): Promise<number | undefined> {
  if (env.NEXUS_URL || env.NEXUS_FULL_CLI === "1" || !unixStreamAvailable()) return undefined;
  const sep = argv.indexOf("--");
  const from = argv[0] === "exec" ? 1 : 2;
  if (sep === from) return undefined; // the active workspace
  const ws = argv[from]!;
  // The plain form has no -i: a terminal is not read (stdinMode), and /dev/null has nothing to send.
  if (!isTerminal(0) && !stdinIsNull()) return undefined;
  const body = execBody(argv[sep + 1]!, argv, sep + 2, env.SSH_AUTH_SOCK);
  const path = `/api/v1/workspaces/${encodeURIComponent(ws)}/exec`;
  const headers = requestHeaders({ accept: "application/x-ndjson", contentType: "application/json", expectVersion: buildId() });
  const abort = new AbortController();
  // Ctrl-C ends the exec whatever our stdout holds (a full pipe would hold the exit for ever).
  const onSigint = () => {
    dropUnwritten();
    abort.abort(new NexusError("INTERNAL_ERROR", "interrupted"));
  };
  let interruptible = false;
  // The time the daemon takes to answer is idle here: Ctrl-C is handled from then on (before, it
  // ends the process as it would anyway, with nothing sent or with the connection cut, which stops
  // the command too), and the answer's code runs once on a canned answer, so the real one is read
  // without its first-use costs (unix-stream.ts warmAnswer). Together some 1 ms less per exec.
  const whileWaiting = () => {
    process.once("SIGINT", onSigint);
    interruptible = true;
    warmEvents();
  };
  try {
    const result = await socketEvents(nexusPaths(env).daemonSocket, "POST", path, headers, body, execPrinter(ws, writeOutput), abort.signal, whileWaiting);
    await untilAborted(writeOut(""), abort.signal);
    return Number(result.exitCode);
  } catch (err) {
    if (abort.signal.aborted) return 130;
    const e = toNexusError(err);
    if (mayResend(e, "POST", path)) return undefined;
    await writeErr(formatError(e, useColor(2)));
    return exitCodeFor(e);
  } finally {
    if (interruptible) process.off("SIGINT", onSigint);
  }
}

/**
 * The body the full path sends (commands/exec.ts: the command, its arguments from argv[from] on, the
 * SSH agent's socket when there is one) as JSON.stringify writes it, without calling it for words
 * that need no escaping: its first use costs a short command about 0.25 ms.
 */
export function execBody(command: string, argv: readonly string[], from: number, agentSocket: string | undefined): string {
  let text = `{"command":${jsonString(command)},"args":[`;
  for (let i = from; i < argv.length; i++) text += (i === from ? "" : ",") + jsonString(argv[i]!);
  text += "]";
  if (agentSocket) text += `,"agentSocket":${jsonString(agentSocket)}`;
  return text + "}";
}

/** A string as JSON.stringify writes it: as it is between quotes unless a character needs escaping. */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Control characters, the quote, the backslash, and surrogates (a lone one is escaped).
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}
