import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { TraceRecord, TraceStats } from "../../kernel/trace.ts";
import type { CliContext } from "../context.ts";
import { table, writeOut } from "../output.ts";

export interface TraceFlags {
  workspace?: string;
  limit?: string | number;
  format?: string;
  olderThan?: string;
}

const ACTIONS = "'nexus trace list [--workspace W] [--limit N]', 'trace show <id>', 'trace stats', 'trace export [--format jsonl]' or 'trace prune [--older-than 7d]'";

function ms(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}s` : `${Math.round(n)}ms`;
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** `nexus trace list|show|stats|export|prune`: the daemon's operation history (GET /api/v1/trace, an extension). */
export async function traceCommand(ctx: CliContext, action: string | undefined, id: string | undefined, flags: TraceFlags): Promise<number> {
  const client = await ctx.client();
  switch (action ?? "list") {
    case "list":
    case "ls": {
      const r = await client.json<{ operations: TraceRecord[] }>("GET", `/api/v1/trace${query({ workspace: flags.workspace, limit: flags.limit })}`);
      if (ctx.json) await writeOut(JSON.stringify(r, null, 2) + "\n");
      else if (r.operations.length === 0) await writeOut("No operations recorded yet\n");
      else {
        const rows = [["ID", "STARTED", "OPERATION", "WORKSPACE", "SURFACE", "DURATION", "RESULT"]];
        for (const o of r.operations) {
          const result = o.result === "ok" ? (o.exitCode !== undefined ? `ok (exit ${o.exitCode})` : "ok") : (o.errorCode ?? "error");
          rows.push([o.id, o.startedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"), o.operation, o.workspace ?? o.workspaceId ?? "-", o.surface, ms(o.durationMs), result]);
        }
        await writeOut(table(rows, ctx.color));
      }
      return EXIT_CODES.ok;
    }
    case "show": {
      if (!id) throw new NexusError("INVALID_ARGUMENT", "No operation id given", { suggestion: "nexus trace show <id> (ids: nexus trace list)" });
      const r = await client.json<TraceRecord>("GET", `/api/v1/trace/${encodeURIComponent(id)}`);
      if (ctx.json) await writeOut(JSON.stringify(r, null, 2) + "\n");
      else await writeOut(Object.entries(r).map(([k, v]) => `${k.padEnd(13)} ${typeof v === "number" && k === "durationMs" ? ms(v) : String(v)}`).join("\n") + "\n");
      return EXIT_CODES.ok;
    }
    case "stats": {
      const r = await client.json<TraceStats>("GET", `/api/v1/trace/stats${query({ workspace: flags.workspace })}`);
      if (ctx.json) await writeOut(JSON.stringify(r, null, 2) + "\n");
      else if (r.total === 0) await writeOut("No operations recorded yet\n");
      else {
        const rows = [["OPERATION", "COUNT", "ERRORS", "P50", "P95", "MAX", "ERROR CODES"]];
        for (const o of r.operations) rows.push([o.operation, String(o.count), String(o.errors), ms(o.p50Ms), ms(o.p95Ms), ms(o.maxMs), Object.entries(o.errorCodes).map(([c, n]) => `${c}×${n}`).join(" ") || "-"]);
        await writeOut(`${r.total} operation${r.total === 1 ? "" : "s"} since ${r.since}\n` + table(rows, ctx.color));
      }
      return EXIT_CODES.ok;
    }
    case "export": {
      const format = flags.format ?? "jsonl";
      if (format !== "jsonl") throw new NexusError("INVALID_ARGUMENT", `Unknown export format '${format}'`, { suggestion: "Use --format jsonl (one JSON object a line)" });
      const r = await client.json<{ operations: TraceRecord[] }>("GET", `/api/v1/trace/export${query({ format })}`);
      await writeOut(r.operations.map((o) => JSON.stringify(o) + "\n").join(""));
      return EXIT_CODES.ok;
    }
    case "prune": {
      const r = await client.json<{ removed: number; before: string }>("DELETE", `/api/v1/trace${query({ olderThan: flags.olderThan ?? "7d" })}`);
      await writeOut(ctx.json ? JSON.stringify(r) + "\n" : `Removed ${r.removed} operation${r.removed === 1 ? "" : "s"} started before ${r.before}\n`);
      return EXIT_CODES.ok;
    }
    default:
      throw new NexusError("INVALID_ARGUMENT", `Unknown trace action '${action}'`, { suggestion: `Use ${ACTIONS}` });
  }
}
