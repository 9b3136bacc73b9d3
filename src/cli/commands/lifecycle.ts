import type { ResumeResult, StartResult, WorkspaceView } from "../../core/types.ts";
import { dim } from "../output.ts";
import { serviceLines } from "./services.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { CliContext } from "../context.ts";
import { writeOut } from "../output.ts";

/** The CLI's ssh-agent, handed to the daemon (same machine, same user) for key injection and forwarding. */
export function agentBody(): { agentSocket?: string } {
  return process.env.SSH_AUTH_SOCK ? { agentSocket: process.env.SSH_AUTH_SOCK } : {};
}

const path = (ws: string, action = "") => `/api/v1/workspaces/${encodeURIComponent(ws)}${action}`;

async function print(ctx: CliContext, body: unknown, text: string): Promise<number> {
  await writeOut(ctx.json ? JSON.stringify(body, null, 2) + "\n" : text + "\n");
  return EXIT_CODES.ok;
}

export interface StartFlags {
  skipHooks?: boolean;
  skipServices?: boolean;
  wait?: boolean;
  waitTimeout?: number | string;
}

/** The start body: the spec's skip_hooks, skip_services, blocking and timeout. */
export function startBody(flags: StartFlags): Record<string, unknown> {
  return {
    ...agentBody(),
    ...(flags.skipHooks ? { skipHooks: true } : {}),
    ...(flags.skipServices ? { skipServices: true } : {}),
    ...(flags.wait === false ? { blocking: false } : {}),
    ...(flags.waitTimeout !== undefined ? { timeout: Number(flags.waitTimeout) } : {}),
  };
}

export async function startCommand(ctx: CliContext, ref: string | undefined, flags: StartFlags = {}): Promise<number> {
  const started = Date.now();
  const res = await (await ctx.client()).stream("POST", path(ctx.workspace(ref), "/start"), startBody(flags), (e) => {
    if (e.type === "progress") void ctx.log(`${dim(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ctx.color)} ${String(e.message)}`);
  });
  const ws = res.workspace as StartResult;
  return print(ctx, ws, `Started ${ws.name} in ${((Date.now() - started) / 1000).toFixed(1)}s\n${serviceLines(ws.services ?? [], ctx.color)}`.trimEnd());
}

export async function stopCommand(ctx: CliContext, ref: string | undefined, flags: { timeout?: number }): Promise<number> {
  const ws = await (await ctx.client()).json<WorkspaceView>("POST", path(ctx.workspace(ref), "/stop"), { timeout: Number(flags.timeout ?? 30) });
  return print(ctx, ws, `Stopped ${ws.name}`);
}

export async function restartCommand(ctx: CliContext, ref: string | undefined, flags: { timeout?: number }): Promise<number> {
  const ws = await (await ctx.client()).json<WorkspaceView>("POST", path(ctx.workspace(ref), "/restart"), { timeout: Number(flags.timeout ?? 30), ...agentBody() });
  return print(ctx, ws, `Restarted ${ws.name}`);
}

export async function pauseCommand(ctx: CliContext, ref: string | undefined): Promise<number> {
  const ws = await (await ctx.client()).json<WorkspaceView>("POST", path(ctx.workspace(ref), "/pause"), {});
  return print(ctx, ws, `Paused ${ws.name} (processes and memory kept; 'nexus resume ${ws.name}' continues)`);
}

export async function resumeCommand(ctx: CliContext, ref: string | undefined): Promise<number> {
  const ws = ctx.workspace(ref);
  const r = await (await ctx.client()).json<ResumeResult>("POST", path(ws, "/resume"), { blocking: true });
  return print(ctx, r, `Resumed ${ws} in ${r.durationMs} ms\n${serviceLines(r.services, ctx.color)}`.trimEnd());
}

export async function useCommand(ctx: CliContext, ref: string | undefined, flags: { clear?: boolean }): Promise<number> {
  const client = await ctx.client();
  if (flags.clear) {
    await client.json("DELETE", "/api/v1/active-workspace");
    return print(ctx, { workspaceId: null }, "No workspace is active now");
  }
  if (!ref) {
    const active = await client.json<{ workspaceId: string | null; name: string | null }>("GET", "/api/v1/active-workspace");
    return print(ctx, active, active.name ? `Active workspace: ${active.name}` : "No workspace is active; set one with 'nexus use <name>'");
  }
  const r = await client.json<{ name: string; status: string; previous: string | null; durationMs: number }>("POST", path(ref, "/switch"));
  return print(ctx, r, `Active workspace: ${r.name} (${r.status})${r.previous ? `, was ${r.previous}` : ""}`);
}

export async function urlCommand(ctx: CliContext, ref: string | undefined): Promise<number> {
  const r = await (await ctx.client()).json<{ url: string; containerPort: number; listening?: boolean }>("GET", path(ctx.workspace(ref), "/url"));
  if (r.listening === false && !ctx.json) await ctx.log(`nothing listens on port ${r.containerPort} inside the workspace yet (on 0.0.0.0; see 'nexus ports')`);
  return print(ctx, r, r.url);
}

export async function updateCommand(ctx: CliContext, ref: string | undefined, flags: { resources?: string; cpu?: number; memory?: string; idleTimeout?: string; forwardAgent?: string }): Promise<number> {
  const body: Record<string, unknown> = {};
  if (flags.forwardAgent !== undefined) body.forwardAgent = ["yes", "true", "on", "1"].includes(String(flags.forwardAgent).toLowerCase());
  if (flags.resources) body.resources = flags.resources;
  if (flags.idleTimeout !== undefined) body.idleTimeout = /^\d+$/.test(String(flags.idleTimeout)) ? Number(flags.idleTimeout) : String(flags.idleTimeout);
  const client = await ctx.client();
  if (flags.cpu !== undefined || flags.memory !== undefined) {
    // Only --cpu or only --memory: the other limit stays what the workspace has now.
    const now = flags.cpu === undefined || flags.memory === undefined ? (await client.json<WorkspaceView>("GET", path(ctx.workspace(ref)))).resources : undefined;
    body.resources = { cpu: flags.cpu !== undefined ? Number(flags.cpu) : now!.cpu, memory: flags.memory !== undefined ? String(flags.memory) : now!.memoryBytes };
  }
  const ws = await client.json<WorkspaceView>("PATCH", path(ctx.workspace(ref)), body);
  // Say what changed, in the terms it was asked in.
  const said: string[] = [];
  if (body.resources !== undefined) said.push(`${ws.resources.cpu} CPU, ${Math.round(ws.resources.memoryBytes / 1024 ** 2)} MB`);
  if (body.idleTimeout !== undefined) said.push(ws.idleTimeoutSeconds === 0 ? "never paused for idleness" : `idle timeout ${ws.idleTimeoutSeconds} s`);
  if (body.forwardAgent !== undefined) said.push(`agent forwarding ${ws.forwardAgent ? "on" : "off"}`);
  return print(ctx, ws, `Updated ${ws.name}${said.length ? `: ${said.join("; ")}` : " (nothing asked to change)"}`);
}
