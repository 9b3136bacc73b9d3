// nexus sync status|pause|resume|flush|conflicts [workspace], nexus sync resolve [workspace] PATH --winner host|workspace.
import { errors } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { SyncConflict, SyncStatusView } from "../../sync/types.ts";
import type { CliContext } from "../context.ts";
import { ago, dim, table, writeOut, yellow } from "../output.ts";

const USAGE = "nexus sync status|pause|resume|flush|conflicts [workspace] | nexus sync resolve [workspace] PATH --winner host|workspace";

export async function syncCommand(ctx: CliContext, args: string[], flags: { winner?: string }): Promise<number> {
  const [action, ...rest] = args;
  const path = (ws: string, suffix = "") => `/api/v1/workspaces/${encodeURIComponent(ws)}/sync${suffix}`;
  switch (action) {
    case "status": {
      const ws = ctx.workspace(rest[0]);
      return printStatus(ctx, await (await ctx.client()).json<SyncStatusView>("GET", path(ws)), ws);
    }
    case "pause":
    case "resume": {
      const ws = ctx.workspace(rest[0]);
      const s = await (await ctx.client()).json<SyncStatusView>("POST", path(ws, `/${action}`));
      if (ctx.json) await writeOut(JSON.stringify(s, null, 2) + "\n");
      else await writeOut(s.provider === "bind" ? `Sync of ${ws}: bind mount, always in step (nothing to ${action})\n` : `Sync of ${ws} ${action === "pause" ? "paused" : "resumed"} (${s.provider})\n`);
      return EXIT_CODES.ok;
    }
    case "flush": {
      const ws = ctx.workspace(rest[0]);
      const r = await (await ctx.client()).json<{ flushed: boolean; durationMs: number }>("POST", path(ws, "/flush"));
      if (ctx.json) await writeOut(JSON.stringify(r) + "\n");
      else await writeOut(`Both sides of ${ws} agree (${(r.durationMs / 1000).toFixed(2)}s)\n`);
      return EXIT_CODES.ok;
    }
    case "conflicts": {
      const ws = ctx.workspace(rest[0]);
      const r = await (await ctx.client()).json<{ conflicts: SyncConflict[] }>("GET", path(ws, "/conflicts"));
      if (ctx.json) await writeOut(JSON.stringify(r, null, 2) + "\n");
      else await printConflicts(ctx, ws, r.conflicts);
      return EXIT_CODES.ok;
    }
    case "resolve": {
      const [ws, file] = ctx.workspaceAnd(rest, "path", "nexus sync resolve <workspace> PATH --winner host|workspace");
      if (flags.winner !== "host" && flags.winner !== "workspace") throw errors.invalidArgument("--winner must be host or workspace", "Run 'nexus sync resolve <workspace> PATH --winner host|workspace'");
      const r = await (await ctx.client()).json<{ resolved: boolean; path: string }>("POST", path(ws, "/conflicts/resolve"), { path: file, winner: flags.winner });
      if (ctx.json) await writeOut(JSON.stringify(r) + "\n");
      else await writeOut(`Resolved ${r.path}: the ${flags.winner}'s version is on both sides\n`);
      return EXIT_CODES.ok;
    }
    default:
      throw errors.invalidArgument(action ? `Unknown sync action '${action}'` : "A sync action is needed", `Run '${USAGE}'`);
  }
}

async function printStatus(ctx: CliContext, s: SyncStatusView, ws: string): Promise<number> {
  if (ctx.json) {
    await writeOut(JSON.stringify(s, null, 2) + "\n");
    return EXIT_CODES.ok;
  }
  if (s.provider === "bind") {
    await writeOut(`${ws}: provider bind — the worktree is bind-mounted, host and workspace share the same ${s.stats.filesTotal} files; nothing to sync\n`);
    return EXIT_CODES.ok;
  }
  const state = s.status === "error" ? yellow("error", ctx.color) : s.status;
  const lines = [
    `provider   ${s.provider}${s.sessionId ? dim(` (${s.sessionId})`, ctx.color) : ""}`,
    `status     ${state}`,
    `files      ${s.stats.filesSynced}/${s.stats.filesTotal} in step`,
    `conflicts  ${s.stats.conflicts}${s.stats.conflicts ? ` — see 'nexus sync conflicts ${ws}'` : ""}`,
    `transfer   ${s.stats.bytesTransferred} bytes`,
    `last sync  ${s.lastSyncAt ? ago(s.lastSyncAt) : "never"}`,
    ...(s.error ? [`error      ${s.error}`] : []),
  ];
  await writeOut(lines.join("\n") + "\n");
  return EXIT_CODES.ok;
}

async function printConflicts(ctx: CliContext, ws: string, conflicts: SyncConflict[]): Promise<void> {
  if (conflicts.length === 0) {
    await writeOut(`No sync conflicts in ${ws}\n`);
    return;
  }
  const rows = [["PATH", "TYPE", "HOST", "WORKSPACE", "AT PATH", "OTHER VERSION KEPT AT", "DETECTED"]];
  for (const c of conflicts) rows.push([c.path, c.type, c.alphaState, c.betaState, c.winner ?? "both differ", c.copyPath ?? "-", ago(c.detectedAt)]);
  await writeOut(table(rows, ctx.color) + `Keep one: nexus sync resolve ${ws} PATH --winner host|workspace\n`);
}
