import type { StartResult, WorkspaceStatusView, WorkspaceView } from "../../core/types.ts";
import { labelsText, statusText } from "./list.ts";
import { serviceLines } from "./services.ts";
import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { TrashEntry } from "../../core/trash.ts";
import type { CliContext } from "../context.ts";
import { ago, red, writeOut } from "../output.ts";
import { progressPrinter } from "../progress.ts";
import { promptOutput } from "../prompt-output.ts";
import { parseLabelArgs } from "../../core/labels/syntax.ts";
import { splitEnv, toList } from "./exec.ts";

export interface CreateFlags {
  displayName?: string;
  repo?: string;
  branch?: string;
  fromBranch?: string;
  backend?: string;
  worktree?: boolean;
  resources?: string;
  port?: Array<string | number> | string | number;
  env?: string[] | string;
  image?: string;
  forwardAgent?: boolean;
  fromCheckpoint?: string;
  devcontainer?: string;
  trust?: boolean;
  label?: string[] | string;
  engine?: string;
}

/** `print` receives what create shows at the end (the wizard prints it once its spinner has stopped). */
export async function createCommand(ctx: CliContext, name: string | undefined, flags: CreateFlags, print: (text: string) => Promise<void> = writeOut): Promise<number> {
  if (!name) {
    throw new NexusError("INVALID_ARGUMENT", "A workspace name is needed", {
      suggestion: "Run 'nexus create <name>' (e.g. 'nexus create feature-auth'); see 'nexus create --help' for the flags",
    });
  }
  const body: Record<string, unknown> = { name };
  if (flags.displayName) body.displayName = flags.displayName;
  if (flags.repo) body.repo = String(flags.repo);
  else body.path = process.cwd();
  if (flags.branch) body.branch = String(flags.branch);
  if (flags.fromBranch) body.fromBranch = String(flags.fromBranch);
  if (flags.backend) body.backend = flags.backend;
  if (flags.worktree === false) body.noWorktree = true;
  if (flags.resources) body.resources = flags.resources;
  if (flags.image) body.image = flags.image;
  if (flags.forwardAgent === false) body.forwardAgent = false;
  if (flags.fromCheckpoint) body.fromCheckpoint = String(flags.fromCheckpoint);
  if (flags.devcontainer) body.devcontainer = String(flags.devcontainer);
  if (flags.trust) body.trust = true;
  if (flags.engine) body.engine = String(flags.engine);
  if (process.env.SSH_AUTH_SOCK) body.agentSocket = process.env.SSH_AUTH_SOCK;
  const ports = toList(flags.port).map((p) => Number(p));
  if (ports.length > 0) body.ports = ports;
  const env = toList(flags.env);
  if (env.length > 0) body.env = Object.fromEntries(env.map((kv) => splitEnv(String(kv))));
  const labels = toList(flags.label).map(String);
  if (labels.length > 0) body.labels = parseLabelArgs(labels);

  const client = await ctx.client();
  const started = Date.now();
  const send = () => {
    const shown = progressPrinter(ctx, started);
    return client.stream("POST", "/api/v1/workspaces", body, (e) => shown.event(e)).finally(() => shown.end());
  };
  let result: Awaited<ReturnType<typeof send>>;
  try {
    result = await send();
  } catch (err) {
    // A cloned repository's initializeCommand would run on this machine: on a terminal, ask (the command is in the message).
    if (!(err instanceof NexusError && err.details?.trustRequired) || flags.trust !== undefined || ctx.json || !process.stdin.isTTY) throw err;
    const { confirm, isCancel } = await import("@clack/prompts");
    const ok = await confirm({ message: `${err.message}\nRun it on this machine?`, initialValue: false, output: promptOutput() });
    if (isCancel(ok) || !ok) throw err;
    body.trust = true;
    result = await send();
  }
  const ws = result.workspace as WorkspaceView;
  if (ctx.json) {
    await print(JSON.stringify(ws, null, 2) + "\n");
  } else {
    const ssh = ws.ports.find((p) => p.name === "ssh");
    await print(
      `Created workspace ${ws.name} (${ws.id}) in ${((Date.now() - started) / 1000).toFixed(1)}s\n` +
        `  branch    ${ws.branch}\n  worktree  ${ws.worktreePath}\n  ssh       127.0.0.1:${ssh?.hostPort}\n` +
        ws.ports.filter((p) => p.name !== "ssh").map((p) => `  port      ${p.containerPort} → 127.0.0.1:${p.hostPort}\n`).join("") +
        serviceLines((ws as StartResult).services ?? [], ctx.color) +
        `Run a command: nexus exec ${ws.name} -- git status\n`,
    );
  }
  return EXIT_CODES.ok;
}

export async function statusCommand(ctx: CliContext, ref: string | undefined): Promise<number> {
  const ws = ctx.workspace(ref);
  const s = await (await ctx.client()).json<WorkspaceStatusView>("GET", `/api/v1/workspaces/${encodeURIComponent(ws)}/status`);
  if (ctx.json) {
    await writeOut(JSON.stringify(s, null, 2) + "\n");
    return EXIT_CODES.ok;
  }
  let text =
    `${s.name} (${s.workspaceId})  ${statusText(s.status, ctx.color)}\n` +
    `  backend      ${s.backend}${s.containerId ? `  container ${s.containerId.slice(0, 12)}` : ""}\n` +
    `  branch       ${s.branch || "-"}\n  worktree     ${s.worktreePath}\n` +
    `  ssh          127.0.0.1:${s.ports.ssh}\n` +
    (s.labels && Object.keys(s.labels).length ? `  labels       ${labelsText(s.labels)}\n` : "") +
    s.ports.services.map((p) => `  port         ${p.containerPort} → 127.0.0.1:${p.hostPort} (${p.status})\n`).join("") +
    `  created      ${s.createdAt} (${ago(s.createdAt)})\n  last active  ${s.lastActiveAt} (${ago(s.lastActiveAt)})\n` +
    (s.idle ? `  idle         ${idleText(s.status, s.idle)}\n` : "") +
    (s.configuration ? (await import("../../config/sources.ts")).configSources(s.configuration, s.worktreePath).map((l, i) => `  ${i === 0 ? "config      " : "            "} ${l}\n`).join("") : "");
  if (s.error) text += `  ${red("error", ctx.color)}        ${s.error.message} (${s.error.code})\n`;
  await writeOut(text);
  return EXIT_CODES.ok;
}

export async function destroyCommand(ctx: CliContext, ref: string | undefined, flags: { force?: boolean; keepCheckpoints?: boolean }): Promise<number> {
  const ws = ctx.workspace(ref);
  const client = await ctx.client();
  const since = new Date(Date.now() - 1000).toISOString();
  const q = new URLSearchParams();
  if (flags.force) q.set("force", "true");
  if (flags.keepCheckpoints) q.set("keepCheckpoints", "true");
  await client.json("DELETE", `/api/v1/workspaces/${encodeURIComponent(ws)}${q.size ? `?${q}` : ""}`);
  // Files git does not keep were moved to the trash, not deleted: say what and where (core/trash.ts).
  const trash = await client.json<{ entries: TrashEntry[] }>("GET", "/api/v1/trash").catch(() => ({ entries: [] as TrashEntry[] }));
  const kept = trash.entries.filter((e) => e.trashedAt >= since && (e.workspace === ws || e.originalPath.endsWith(`/${ws}`)));
  if (ctx.json) await writeOut(JSON.stringify({ destroyed: ws, ...(kept.length ? { trashed: kept } : {}) }) + "\n");
  else {
    await writeOut(`Destroyed workspace ${ws}\n`);
    for (const e of kept) await writeOut(`Moved ${e.ignoredCount} git-ignored and ${e.uncommittedCount} uncommitted path(s) to the trash: ${e.path} ('nexus trash restore ${e.id}')\n`);
  }
  return EXIT_CODES.ok;
}

/** What keeps a workspace awake now, or when idleness pauses (or stops) it. */
export function idleText(status: string, idle: WorkspaceStatusView["idle"]): string {
  if (idle.keptAwakeBy.length > 0) return `kept awake by ${idle.keptAwakeBy.join(", ")}`;
  if (idle.timeoutSeconds <= 0) return "never paused for idleness (idle timeout 0)";
  const after = `${idle.action === "stop" ? "stops" : "pauses"} after ${seconds(idle.timeoutSeconds)} without activity`;
  return status === "running" ? `nothing keeps it awake; idle for ${seconds(idle.idleForSeconds)}, ${after}` : after;
}

function seconds(n: number): string {
  return n < 60 ? `${n}s` : n < 3600 ? `${Math.round(n / 60)}m` : `${Math.round((n / 3600) * 10) / 10}h`;
}
