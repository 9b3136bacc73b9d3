import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { ServiceHealthView, ServiceView } from "../../core/types.ts";
import type { CliContext } from "../context.ts";
import { dim, green, red, table, writeOut, yellow } from "../output.ts";
import { unwrittenMarks } from "../unwritten.ts";
import { resumedLine } from "../resumed.ts";
import { abortOnCtrlC } from "../ctrl-c.ts";
import { writeStreamed } from "../../runtime/stdio.ts";
import { untilAborted } from "../../kernel/until-aborted.ts";

const path = (ws: string, rest = "") => `/api/v1/workspaces/${encodeURIComponent(ws)}${rest}`;

export function paintStatus(status: string, color: boolean): string {
  if (status === "healthy" || status === "running") return green(status, color);
  if (status === "unhealthy") return red(status, color);
  if (status === "starting") return yellow(status, color);
  return dim(status, color);
}

/** Lines for the services of a start/create/resume answer. */
export function serviceLines(services: readonly ServiceHealthView[], color: boolean): string {
  return services.map((s) => `  service   ${s.name} ${paintStatus(s.status, color)}${s.url ? ` ${s.url}` : ""}${s.message ? dim(` (${s.message})`, color) : ""}\n`).join("");
}

/**
 * `nexus services [workspace]`, `nexus services logs <workspace> <service> [--tail N] [-f]`,
 * `nexus services restart <workspace> <service>`.
 */
export async function servicesCommand(ctx: CliContext, args: string[], flags: { tail?: number | string; follow?: boolean }): Promise<number> {
  const [first, ...rest] = args;
  if (first === "logs") return logsCommand(ctx, rest, flags);
  if (first === "restart") return restartCommand(ctx, rest);
  const ws = ctx.workspace(first === "list" ? rest[0] : first);
  const r = await (await ctx.client()).json<{ workspaceId: string; services: ServiceView[] }>("GET", path(ws, "/services"));
  if (ctx.json) {
    await writeOut(JSON.stringify(r, null, 2) + "\n");
    return EXIT_CODES.ok;
  }
  if (r.services.length === 0) {
    await writeOut(`Workspace ${ws} has no services (define them under 'services:' in .nexus/workspace.yaml)\n`);
    return EXIT_CODES.ok;
  }
  const rows = [["NAME", "STATUS", "PORT", "URL", "HEALTH CHECK", "RESTARTS", "NOTE"]];
  for (const s of r.services) {
    rows.push([s.name, paintStatus(s.status, ctx.color), s.containerPort ? String(s.containerPort) : "-", s.url ?? "-", s.healthCheck ?? "-", String(s.restarts), s.message || (s.lastProbe && !s.lastProbe.ok ? s.lastProbe.output : "")]);
  }
  await writeOut(table(rows, ctx.color));
  for (const s of r.services) if (s.hint) await ctx.log(`${yellow("hint:", ctx.color)} ${s.hint}`);
  return EXIT_CODES.ok;
}


async function logsCommand(ctx: CliContext, args: string[], flags: { tail?: number | string; follow?: boolean }): Promise<number> {
  const [ws, svc] = ctx.workspaceAnd(args, "service name", "nexus services logs <workspace> <service> [--tail 100] [-f]");
  const tail = flags.tail === undefined ? 100 : Number(flags.tail);
  if (!Number.isInteger(tail) || tail < 0) throw new NexusError("INVALID_ARGUMENT", `--tail must be a whole number, not '${flags.tail}'`, { suggestion: "e.g. --tail 100" });
  const client = await ctx.client();
  const query = `?tail=${tail}${flags.follow ? "&follow=true" : ""}`;
  const ctrlC = abortOnCtrlC();
  // A slow reader of our stdout holds the next read, and the daemon pauses the log's reading
  // (unwritten.ts); the lines are written off the CLI's thread, so Ctrl-C works meanwhile (stdio.ts).
  const wrote = unwrittenMarks();
  try {
    await client.stream("GET", path(ws, `/services/${encodeURIComponent(svc)}/logs${query}`), undefined, (e) => {
      if (e.type === "resumed") void ctx.log(resumedLine(ws, e));
      if (e.type !== "log") return undefined;
      const line = (ctx.json ? JSON.stringify(e) : `${dim(String(e.timestamp), ctx.color)} ${e.level === "error" ? red(String(e.message), ctx.color) : e.level === "warn" ? yellow(String(e.message), ctx.color) : String(e.message)}`) + "\n";
      return wrote(writeStreamed(1, line), line.length);
    }, ctrlC.signal);
    await untilAborted(writeStreamed(1, ""), ctrlC.signal);
  } catch (err) {
    if (!ctrlC.signal.aborted) throw err;
  } finally {
    ctrlC.release();
  }
  return EXIT_CODES.ok;
}

async function restartCommand(ctx: CliContext, args: string[]): Promise<number> {
  const [ws, svc] = ctx.workspaceAnd(args, "service name", "nexus services restart <workspace> <service>");
  const r = await (await ctx.client()).json<ServiceHealthView & { durationMs: number; resumed?: { durationMs: number } }>("POST", path(ws, `/services/${encodeURIComponent(svc)}/restart`), {});
  if (r.resumed && !ctx.json) await ctx.log(resumedLine(ws, r.resumed));
  await writeOut(ctx.json ? JSON.stringify(r, null, 2) + "\n" : `Restarted ${r.name}: ${paintStatus(r.status, ctx.color)}${r.url ? ` ${r.url}` : ""} (${(r.durationMs / 1000).toFixed(1)}s)\n`);
  return r.status === "healthy" || r.status === "running" ? EXIT_CODES.ok : EXIT_CODES.error;
}

/** `nexus hook [workspace] <hook>`: runs one hook now; exits with its exit code. */
export async function hookCommand(ctx: CliContext, a: string, b: string | undefined, flags: { timeout?: number | string }): Promise<number> {
  const [ws, hook] = b === undefined ? [ctx.workspace(undefined), a] : [a, b];
  const body = flags.timeout !== undefined ? { timeout: Number(flags.timeout) } : {};
  const r = await (await ctx.client()).json<{ hook: string; exitCode: number; durationMs: number; output: string; logFile: string; timedOut: boolean; resumed?: { durationMs: number } }>("POST", path(ws, `/hooks/${encodeURIComponent(hook)}`), body);
  if (r.resumed && !ctx.json) await ctx.log(resumedLine(ws, r.resumed));
  if (ctx.json) await writeOut(JSON.stringify(r, null, 2) + "\n");
  else {
    if (r.output) await writeOut(r.output + "\n");
    await ctx.log(`${r.hook}: exit ${r.exitCode}${r.timedOut ? " (timed out)" : ""} in ${(r.durationMs / 1000).toFixed(1)}s; log: ${r.logFile}`);
  }
  return r.exitCode === 0 ? EXIT_CODES.ok : r.exitCode;
}

