// `nexus sessions list|attach|logs|send|kill`, `nexus console`, `nexus exec --detach`.
import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { SessionLogs, SessionView } from "../../core/sessions/types.ts";
import type { CliContext } from "../context.ts";
import { ago, dim, green, table, writeErr, writeOut, yellow } from "../output.ts";
import { postAttach } from "../post-attach.ts";
import { attachTerminal, parseDetachKey } from "../terminal.ts";
import { unwrittenMarks } from "../unwritten.ts";
import { writeStreamed } from "../../runtime/stdio.ts";
import { abortOnCtrlC } from "../ctrl-c.ts";
import { untilAborted } from "../../kernel/until-aborted.ts";

const path = (id: string, rest = "") => `/api/v1/sessions/${encodeURIComponent(id)}${rest}`;

export interface SessionFlags {
  tail?: number | string;
  follow?: boolean;
  enter?: boolean;
  detachKey?: string;
}

const USAGE = "nexus sessions list [workspace] | attach <id> | logs <id> [--tail N] [-f] | send <id> <text> [--enter] | kill <id>";

export async function sessionsCommand(ctx: CliContext, args: string[], flags: SessionFlags): Promise<number> {
  const [verb, ...rest] = args;
  switch (verb ?? "list") {
    case "list":
    case "ls":
      return listCommand(ctx, rest[0]);
    case "attach":
      return attachCommand(ctx, need(rest[0], "session id", "nexus sessions attach <id>"), flags);
    case "logs":
      return logsCommand(ctx, need(rest[0], "session id", "nexus sessions logs <id> [--tail N] [-f]"), flags);
    case "send":
      return sendCommand(ctx, need(rest[0], "session id", "nexus sessions send <id> <text> [--enter]"), rest.slice(1), flags);
    case "kill":
    case "rm":
      return killCommand(ctx, need(rest[0], "session id", "nexus sessions kill <id>"));
    default:
      throw new NexusError("INVALID_ARGUMENT", `Unknown sessions action '${verb}'`, { suggestion: `Use ${USAGE}` });
  }
}

function need(value: string | undefined, what: string, usage: string): string {
  if (!value) throw new NexusError("INVALID_ARGUMENT", `A ${what} is needed`, { suggestion: `Run '${usage}'; 'nexus sessions list' shows the ids` });
  return value;
}

export function statusText(s: Pick<SessionView, "status" | "exit_code" | "stale">, color: boolean): string {
  if (s.status === "exited") return (s.exit_code === 0 ? green : yellow)(`exited (code ${s.exit_code ?? "?"})`, color);
  return green("active", color) + (s.stale ? dim(" (workspace paused)", color) : "");
}

async function listCommand(ctx: CliContext, workspace: string | undefined): Promise<number> {
  const q = workspace ? `?workspace=${encodeURIComponent(workspace)}` : "";
  const r = await (await ctx.client()).json<{ sessions: SessionView[] }>("GET", `/api/v1/sessions${q}`);
  if (ctx.json) {
    await writeOut(JSON.stringify(r, null, 2) + "\n");
    return EXIT_CODES.ok;
  }
  if (r.sessions.length === 0) {
    await writeOut(`No sessions${workspace ? ` in ${workspace}` : ""}; start one with 'nexus console <workspace>' or 'nexus exec --detach <workspace> -- <command>'\n`);
    return EXIT_CODES.ok;
  }
  const rows = [["ID", "WORKSPACE", "COMMAND", "STATUS", "CLIENTS", "CREATED"]];
  for (const s of r.sessions) {
    const cmd = s.command.length > 40 ? s.command.slice(0, 39) + "…" : s.command;
    rows.push([s.id, s.workspace_name, cmd, statusText(s, ctx.color), String(s.attached_clients), ago(s.created_at)]);
  }
  await writeOut(table(rows, ctx.color));
  return EXIT_CODES.ok;
}

/** `exec --detach`: the id at once (stdout, alone, for `id=$(...)`); the command runs on. */
export async function detachedExecCommand(ctx: CliContext, ws: string, body: Record<string, unknown>): Promise<number> {
  const view = await (await ctx.client()).json<SessionView>("POST", `/api/v1/workspaces/${encodeURIComponent(ws)}/exec`, { ...body, detach: true });
  await writeOut(ctx.json ? JSON.stringify(view, null, 2) + "\n" : `${view.id}\n`);
  if (!ctx.json && process.stderr.isTTY) await writeErr(dim(`'nexus sessions logs ${view.id} -f' follows it, 'nexus sessions attach ${view.id}' attaches\n`, ctx.color));
  return EXIT_CODES.ok;
}

/** `nexus console <workspace>`: a login shell in a new session, attached (post-attach hook first); the detach key leaves it running. */
export async function consoleCommand(ctx: CliContext, ref: string | undefined, flags: SessionFlags): Promise<number> {
  noJson(ctx, "console");
  const detachKey = parseDetachKey(flags.detachKey);
  const ws = ctx.workspace(ref);
  const size = terminalSize();
  const client = await ctx.client();
  const view = await client.json<SessionView>("POST", "/api/v1/sessions", { workspace: ws, ...size });
  // After the session is made (which resumes a paused workspace), before the terminal is taken over.
  await postAttach(ctx, client, view.workspace_id);
  return attachTerminal(ctx, view.id, { detachKey, announce: `${view.id} in ${view.workspace_name}` });
}

async function attachCommand(ctx: CliContext, id: string, flags: SessionFlags): Promise<number> {
  noJson(ctx, "sessions attach");
  const detachKey = parseDetachKey(flags.detachKey);
  // Through REST first: an unknown id fails here, and the daemon is started (or replaced) if needed.
  await (await ctx.client()).json<SessionView>("GET", path(id));
  return attachTerminal(ctx, id, { detachKey });
}

function noJson(ctx: CliContext, what: string): void {
  if (ctx.json) {
    throw new NexusError("INVALID_ARGUMENT", `'nexus ${what}' is interactive and has no --json output`, {
      suggestion: "Use 'nexus sessions logs <id> --json' or 'nexus sessions list --json'",
    });
  }
}

export function terminalSize(): { cols: number; rows: number } {
  const cols = process.stdout.columns ?? 0;
  const rows = process.stdout.rows ?? 0;
  return { cols: cols >= 20 ? Math.min(cols, 1000) : 80, rows: rows >= 5 ? Math.min(rows, 500) : 24 };
}

function tailOf(flags: SessionFlags): number {
  const tail = flags.tail === undefined ? 100 : Number(flags.tail);
  if (!Number.isInteger(tail) || tail < 0) throw new NexusError("INVALID_ARGUMENT", `--tail must be a whole number, not '${flags.tail}'`, { suggestion: "e.g. --tail 50" });
  return tail;
}

async function logsCommand(ctx: CliContext, id: string, flags: SessionFlags): Promise<number> {
  const tail = tailOf(flags);
  const client = await ctx.client();
  if (!flags.follow) {
    const logs = await client.json<SessionLogs>("GET", path(id, `/logs?tail=${tail}`));
    await writeOut(ctx.json ? JSON.stringify(logs, null, 2) + "\n" : logs.lines.map((l) => l + "\n").join(""));
    return EXIT_CODES.ok;
  }
  const ctrlC = abortOnCtrlC();
  // A slow reader of our stdout holds the next read, and the daemon looks at the session less
  // (unwritten.ts); the lines are written off the CLI's thread, so Ctrl-C works meanwhile (stdio.ts).
  const wrote = unwrittenMarks();
  try {
    const end = await client.stream("GET", path(id, `/logs?tail=${tail}&follow=true`), undefined, (e) => {
      if (e.type === "dropped") return writeStreamed(2, dim(`[${e.bytes} bytes of output were dropped: this reader was more than the session's kept log behind]\n`, ctx.color));
      if (e.type !== "line") return undefined;
      const line = (ctx.json ? JSON.stringify(e) : String(e.line)) + "\n";
      return wrote(writeStreamed(1, line), line.length);
    }, ctrlC.signal);
    await untilAborted(writeStreamed(1, ""), ctrlC.signal);
    if (end.reason === "exited") {
      if (!ctx.json) await writeErr(dim(`[${id} exited with code ${end.exitCode}]\n`, ctx.color));
      return Number(end.exitCode ?? 0);
    }
    if (end.reason === "killed" && !ctx.json) await writeErr(dim(`[${id} was killed]\n`, ctx.color));
    return EXIT_CODES.ok;
  } catch (err) {
    if (ctrlC.signal.aborted) return EXIT_CODES.ok;
    throw err;
  } finally {
    ctrlC.release();
  }
}

async function sendCommand(ctx: CliContext, id: string, words: string[], flags: SessionFlags): Promise<number> {
  if (words.length === 0 && !flags.enter) throw new NexusError("INVALID_ARGUMENT", "Nothing to send", { suggestion: "nexus sessions send <id> 'text' [--enter]" });
  const r = await (await ctx.client()).json<{ sessionId: string; bytes: number }>("POST", path(id, "/input"), { text: words.join(" "), enter: flags.enter === true });
  await writeOut(ctx.json ? JSON.stringify(r) + "\n" : "");
  return EXIT_CODES.ok;
}

async function killCommand(ctx: CliContext, id: string): Promise<number> {
  await (await ctx.client()).json("DELETE", path(id));
  await writeOut(ctx.json ? JSON.stringify({ sessionId: id, killed: true }) + "\n" : `Killed ${id}\n`);
  return EXIT_CODES.ok;
}
