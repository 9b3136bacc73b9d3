// `nexus list`: the workspaces as a table (or the API's JSON). Its own module, apart from create and
// destroy, because it is one of the commands run most often (src/cli/quick.ts) and a short command
// pays for every module it loads.
import type { WorkspaceView } from "../../core/types.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { CliContext } from "../context.ts";
import { ago, green, red, table, writeOut, yellow } from "../output.ts";

export async function listCommand(ctx: CliContext, flags: { status?: string; backend?: string; labelSelector?: string }): Promise<number> {
  const q = new URLSearchParams();
  if (flags.status) q.set("status", flags.status);
  if (flags.backend) q.set("backend", flags.backend);
  if (flags.labelSelector !== undefined) q.set("label_selector", String(flags.labelSelector));
  const res = await (await ctx.client()).json<WorkspaceList>("GET", `/api/v1/workspaces${q.size ? `?${q}` : ""}`);
  await writeOut(listText(res, ctx.json, ctx.color));
  return EXIT_CODES.ok;
}

export interface WorkspaceList {
  workspaces: WorkspaceView[];
}

/** The daemon's answer as `nexus list` prints it: a table, or the API's JSON (src/cli/instant.ts prints the same). */
export function listText(res: WorkspaceList, json: boolean, color: boolean): string {
  if (json) return JSON.stringify(res, null, 2) + "\n";
  if (res.workspaces.length === 0) return "No workspaces. Create one with 'nexus create <name>' inside a git repository.\n";
  // The LABELS column only when some workspace has labels, so a list without any stays as narrow as before.
  let labelled = false;
  for (const w of res.workspaces) if (Object.keys(w.labels ?? {}).length > 0) labelled = true;
  const rows = [["NAME", "STATUS", "BRANCH", "SSH", "PORTS", "CREATED", ...(labelled ? ["LABELS"] : [])]];
  for (const w of res.workspaces) {
    // Loops rather than callbacks: this is `nexus list`'s own work (see table()).
    let ssh: string | undefined;
    const others: string[] = [];
    for (const p of w.ports) {
      if (p.name !== "ssh") others.push(`${p.hostPort}→${p.containerPort}`);
      else ssh ??= String(p.hostPort ?? "-");
    }
    rows.push([w.name, statusText(w.status, color), w.branch || "-", ssh ?? "-", others.join(",") || "-", ago(w.createdAt), ...(labelled ? [labelsText(w.labels) || "-"] : [])]);
  }
  return table(rows, color);
}

export function statusText(status: string, color: boolean): string {
  if (status === "running") return green(status, color);
  if (status === "error") return red(status, color);
  if (status === "paused" || status === "pending") return yellow(status, color);
  return status;
}

/** Labels as `k=v,k2=v2`, the way --label and a selector write them. */
export function labelsText(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}
