import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { ForwardResult, PortEntry } from "../../core/forwards.ts";
import type { CliContext } from "../context.ts";
import { dim, green, red, table, writeOut, yellow } from "../output.ts";

const path = (ws: string, rest = "") => `/api/v1/workspaces/${encodeURIComponent(ws)}/ports${rest}`;

function portNumber(text: string, what: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new NexusError("INVALID_ARGUMENT", `${what} must be a port number 1-65535, not '${text}'`, { suggestion: "e.g. 'nexus proxy feature-auth 3000' or 'nexus proxy feature-auth 8080:3000'" });
  }
  return n;
}

const isPortSpec = (s: string) => /^\d+(:\d+)?$/.test(s);


/**
 * `nexus proxy [workspace] <port>` or `<local>:<remote>`: a temporary forward held until Ctrl-C. The
 * `<port>` form listens on the same port locally when it is free, else on a free one (and says so).
 */
export async function proxyCommand(ctx: CliContext, args: string[]): Promise<number> {
  const words = args.map(String);
  const [ws, spec] = words.length === 1 && isPortSpec(words[0]!) ? [ctx.workspace(undefined), words[0]!] : ctx.workspaceAnd(words, "port", "nexus proxy <workspace> <port>");
  const [local, remote] = spec.includes(":") ? spec.split(":") : [undefined, spec];
  const containerPort = portNumber(remote!, "The workspace port");
  const fixed = local !== undefined ? portNumber(local, "The local port") : undefined;
  const client = await ctx.client();
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once("SIGINT", onSigint);
  process.once("SIGTERM", onSigint);
  const hold = (hostPort: number | undefined) =>
    client.stream("POST", path(ws), { containerPort, temporary: true, ...(hostPort !== undefined ? { hostPort } : {}) }, (e) => {
      if (e.type === "forward") void announce(ctx, ws, e as unknown as ForwardResult);
    }, abort.signal);
  try {
    let end;
    try {
      end = await hold(fixed ?? containerPort);
    } catch (err) {
      // `proxy ws 3000`: localhost:3000 if it is free, else any free port; `8080:3000` asked for 8080.
      const fallback = fixed === undefined && err instanceof NexusError && (err.code === "PORT_CONFLICT" || err.code === "PERMISSION_DENIED");
      if (!fallback || abort.signal.aborted) throw err;
      await ctx.log(dim(`localhost:${containerPort} is not available (${(err as NexusError).message}); using a free port`, ctx.color));
      end = await hold(undefined);
    }
    await ctx.log(`The forward ended: ${String(end.reason ?? "the daemon closed it")}`);
    return EXIT_CODES.error;
  } catch (err) {
    if (abort.signal.aborted) return EXIT_CODES.ok;
    throw err;
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}

async function announce(ctx: CliContext, ws: string, f: ForwardResult): Promise<void> {
  if (ctx.json) await writeOut(JSON.stringify(f) + "\n");
  await ctx.log(`Forwarding http://localhost:${f.hostPort} -> ${ws}:${f.containerPort} (Ctrl-C to stop)`);
  if (f.visibility === "public") await ctx.log(yellow(`  public: listening on ${f.bindAddress}:${f.hostPort}, reachable from other machines`, ctx.color));
  if (!f.temporary) await ctx.log(dim(`  (an existing forward, ${f.id}: it stays after Ctrl-C; 'nexus ports rm ${ws} ${f.id}' removes it)`, ctx.color));
}

/** `nexus ports [workspace]`, `ports add [workspace] <port> [--public] [--host-port N]`, `ports rm|public [workspace] <id|port>`. */
export async function portsCommand(ctx: CliContext, args: string[], flags: { public?: boolean; hostPort?: number | string }): Promise<number> {
  const [first, ...rest] = args.map(String);
  const client = await ctx.client();
  if (first === "add") {
    const [ws, port] = ctx.workspaceAnd(rest, "container port", "nexus ports add <workspace> <port> [--public] [--host-port N]");
    const body: Record<string, unknown> = { containerPort: portNumber(port, "The container port") };
    if (flags.hostPort !== undefined) body.hostPort = portNumber(String(flags.hostPort), "--host-port");
    if (flags.public) body.visibility = "public";
    return printForward(ctx, await client.json<ForwardResult>("POST", path(ws), body));
  }
  if (first === "public") {
    const [ws, ref] = ctx.workspaceAnd(rest, "forward id or container port", "nexus ports public <workspace> <id|port>");
    return printForward(ctx, await client.json<ForwardResult>("POST", path(ws, `/${encodeURIComponent(ref)}/public`)));
  }
  if (first === "rm" || first === "remove") {
    const [ws, ref] = ctx.workspaceAnd(rest, "forward id or container port", "nexus ports rm <workspace> <id|port>");
    await client.json("DELETE", path(ws, `/${encodeURIComponent(ref)}`));
    await writeOut(ctx.json ? JSON.stringify({ removed: ref, workspace: ws }) + "\n" : `Removed forward ${ref} of ${ws}\n`);
    return EXIT_CODES.ok;
  }
  const ws = ctx.workspace(first === "list" || first === "ls" ? rest[0] : first);
  const r = await client.json<{ ports: PortEntry[] }>("GET", path(ws));
  if (ctx.json) {
    await writeOut(JSON.stringify(r, null, 2) + "\n");
    return EXIT_CODES.ok;
  }
  if (r.ports.length === 0) {
    await writeOut(`Workspace ${ws} has no published or forwarded ports; add one with 'nexus ports add ${ws} <port>' or 'nexus proxy ${ws} <port>'\n`);
    return EXIT_CODES.ok;
  }
  const rows = [["ID", "PORT", "HOST", "URL", "LISTENING", "NOTE"]];
  for (const p of r.ports) {
    const host = `${p.bindAddress}:${p.hostPort}`;
    const listening = p.listening === null ? dim("?", ctx.color) : p.listening ? (p.kind === "published" && p.loopbackOnly ? yellow("loopback", ctx.color) : green("yes", ctx.color)) : red("no", ctx.color);
    const note = [p.kind === "published" ? "published" : p.temporary ? "proxy" : "", p.visibility === "public" ? "PUBLIC" : "", p.hint ?? ""].filter(Boolean).join("; ");
    rows.push([p.id, String(p.containerPort), p.visibility === "public" ? yellow(host, ctx.color) : host, p.url, listening, note]);
  }
  await writeOut(table(rows, ctx.color));
  return EXIT_CODES.ok;
}

async function printForward(ctx: CliContext, f: ForwardResult): Promise<number> {
  await writeOut(ctx.json ? JSON.stringify(f, null, 2) + "\n" : `${f.message}\n  id ${f.id}\n`);
  return EXIT_CODES.ok;
}
