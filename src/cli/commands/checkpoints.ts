// nexus checkpoint create|list|get|delete, nexus restore.
import type { CheckpointView, RestoreResult } from "../../core/checkpoints/types.ts";
import { errors } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { CliContext } from "../context.ts";
import { ago, dim, table, writeOut, yellow } from "../output.ts";

const USAGE = "nexus checkpoint create [workspace] [-n name] | list [workspace] [--wait] | get [workspace] <checkpoint> [--wait] | delete [workspace] <checkpoint>";

/** What a list or get shows while the container part's changed paths are still being listed. */
const LISTING = "committed; changed paths being listed (--wait)";

export async function checkpointCommand(ctx: CliContext, args: string[], flags: { name?: string; description?: string; wait?: boolean }): Promise<number> {
  const [action, ...rest] = args;
  switch (action) {
    case "create":
      return createCheckpoint(ctx, rest[0], flags);
    case "list":
    case "ls":
      return listCheckpoints(ctx, rest[0], flags.wait === true);
    case "get":
    case "show": {
      const [ws, cp] = ctx.workspaceAnd(rest, "checkpoint", "nexus checkpoint get <workspace> <checkpoint>");
      return getCheckpoint(ctx, ws, cp, flags.wait === true);
    }
    case "delete":
    case "rm": {
      const [ws, cp] = ctx.workspaceAnd(rest, "checkpoint", "nexus checkpoint delete <workspace> <checkpoint>");
      return deleteCheckpoint(ctx, ws, cp);
    }
    default:
      throw errors.invalidArgument(action ? `Unknown checkpoint action '${action}'` : "A checkpoint action is needed", `Run '${USAGE}'`);
  }
}

async function createCheckpoint(ctx: CliContext, ref: string | undefined, flags: { name?: string; description?: string }): Promise<number> {
  const ws = ctx.workspace(ref);
  const body: Record<string, unknown> = {};
  if (flags.name !== undefined) body.name = String(flags.name);
  if (flags.description !== undefined) body.description = String(flags.description);
  const started = Date.now();
  const cp = await (await ctx.client()).json<CheckpointView>("POST", `/api/v1/workspaces/${encodeURIComponent(ws)}/checkpoints`, body);
  if (ctx.json) await writeOut(JSON.stringify(cp, null, 2) + "\n");
  else await writeOut(`Created checkpoint ${cp.name} (${cp.id}) of ${cp.workspaceName} in ${((Date.now() - started) / 1000).toFixed(1)}s, ${bytes(cp.sizeBytes)}\n${holds(cp)}`);
  return EXIT_CODES.ok;
}

async function getCheckpoint(ctx: CliContext, ws: string, ref: string, wait: boolean): Promise<number> {
  const cp = await (await ctx.client()).json<CheckpointView>("GET", `/api/v1/checkpoints/${encodeURIComponent(ref)}?workspace=${encodeURIComponent(ws)}${wait ? "&wait=true" : ""}`);
  if (ctx.json) await writeOut(JSON.stringify(cp, null, 2) + "\n");
  else await writeOut(`${cp.name}${cp.auto ? " (auto)" : ""} (${cp.id}) of ${cp.workspaceName}, ${ago(cp.createdAt)}, taken in ${(cp.durationMs / 1000).toFixed(1)}s, ${bytes(cp.sizeBytes)}${cp.description ? `\n  ${cp.description}` : ""}\n${holds(cp)}`);
  return EXIT_CODES.ok;
}

async function listCheckpoints(ctx: CliContext, ref: string | undefined, wait: boolean): Promise<number> {
  const ws = ctx.workspace(ref);
  const res = await (await ctx.client()).json<{ checkpoints: CheckpointView[] }>("GET", `/api/v1/workspaces/${encodeURIComponent(ws)}/checkpoints${wait ? "?wait=true" : ""}`);
  if (ctx.json) {
    await writeOut(JSON.stringify(res, null, 2) + "\n");
    return EXIT_CODES.ok;
  }
  if (res.checkpoints.length === 0) {
    await writeOut(`No checkpoints of ${ws}. Take one with 'nexus checkpoint create ${ws} -n <name>'.\n`);
    return EXIT_CODES.ok;
  }
  const rows = [["NAME", "ID", "CREATED", "CONTAINER", "HOME", "WORKTREE", "SIZE"]];
  for (const c of res.checkpoints) {
    rows.push([
      c.auto ? `${c.name} ${yellow("(auto)", ctx.color)}` : c.name,
      c.id,
      ago(c.createdAt),
      c.holds.container ? (c.holds.container.changedPaths === null ? LISTING : `${c.holds.container.changedPaths} changed, ${c.holds.container.deletedPaths} deleted`) : "-",
      c.holds.home ? bytes(c.holds.home.bytes) : "-",
      c.holds.worktree ? `${c.holds.worktree.branch ?? "detached"}@${(c.holds.worktree.head ?? "").slice(0, 7) || "-"}` : "-",
      bytes(c.sizeBytes),
    ]);
  }
  await writeOut(table(rows, ctx.color));
  return EXIT_CODES.ok;
}

async function deleteCheckpoint(ctx: CliContext, ws: string, cp: string): Promise<number> {
  const client = await ctx.client();
  // Looked up first for its workspace's name: `ws` may be the active workspace, which is kept by id.
  const found = await client.json<CheckpointView>("GET", `/api/v1/checkpoints/${encodeURIComponent(cp)}?workspace=${encodeURIComponent(ws)}`);
  await client.json("DELETE", `/api/v1/checkpoints/${encodeURIComponent(found.id)}?workspace=${encodeURIComponent(found.workspaceId)}`);
  if (ctx.json) await writeOut(JSON.stringify({ deleted: cp, workspace: found.workspaceName }) + "\n");
  else await writeOut(`Deleted checkpoint ${cp} of ${found.workspaceName}\n`);
  return EXIT_CODES.ok;
}

export async function restoreCommand(ctx: CliContext, args: string[]): Promise<number> {
  const [ws, cp] = ctx.workspaceAnd(args, "checkpoint", "nexus restore <workspace> <checkpoint>");
  const started = Date.now();
  const result = await (await ctx.client()).stream("POST", `/api/v1/checkpoints/${encodeURIComponent(cp)}/restore`, { workspaceId: ws }, (e) => {
    if (e.type === "progress") void ctx.log(`${dim(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ctx.color)} ${String(e.message)}`);
  });
  const r = result.restore as RestoreResult;
  if (ctx.json) await writeOut(JSON.stringify(r, null, 2) + "\n");
  else {
    await writeOut(
      `${r.message}\nRestored ${r.checkpoint.workspaceName} to ${r.checkpoint.name} in ${(r.durationMs / 1000).toFixed(1)}s (${r.status})\n` +
        `Undo with: nexus restore ${r.checkpoint.workspaceName} ${r.safetyCheckpoint.name}\n`,
    );
  }
  return EXIT_CODES.ok;
}

function holds(c: CheckpointView): string {
  const lines: string[] = [];
  if (c.holds.container) {
    // The changed paths are listed from the committed image moments after it is taken.
    const what = c.holds.container.changedPaths === null ? `the changed paths (being listed: 'nexus checkpoint get ${c.workspaceName} ${c.name} --wait' shows them)` : `${c.holds.container.changedPaths} changed and ${c.holds.container.deletedPaths} deleted paths`;
    lines.push(`  container  ${what} (${bytes(c.holds.container.bytes)}) as ${c.holds.container.image}`);
  }
  if (c.holds.home) lines.push(`  home       /home/nexus (${bytes(c.holds.home.bytes)})`);
  if (c.holds.worktree) lines.push(`  worktree   ${c.holds.worktree.ref} (untracked files included, ignored ones not) on ${c.holds.worktree.branch ?? "a detached HEAD"}@${(c.holds.worktree.head ?? "").slice(0, 7)}`);
  lines.push("  not held   running processes and their memory (a pause keeps those; a checkpoint does not)");
  return lines.join("\n") + "\n";
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}
