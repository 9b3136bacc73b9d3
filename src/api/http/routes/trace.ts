import { Hono, type Context } from "hono";
import { NexusError } from "../../../core/errors.ts";
import type { OperationTrace } from "../../../core/trace/recorder.ts";
import { parseDuration } from "../../../config/units.ts";

const MAX_LIMIT = 10_000;

function limitOf(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
    throw new NexusError("INVALID_ARGUMENT", `limit must be a whole number from 1 to ${MAX_LIMIT}, got '${raw.slice(0, 50)}'`, { suggestion: "e.g. ?limit=20 (nexus trace list --limit 20)", details: { field: "limit" } });
  }
  return n;
}

/** The operation history, `nexus trace` (an extension of the spec, which gives it no route). */
export function traceRoutes(trace: OperationTrace): Hono {
  const app = new Hono();
  app.get("/", async (c) => {
    const workspace = c.req.query("workspace") || undefined;
    const limit = limitOf(c.req.query("limit"));
    return c.json({ operations: await trace.list({ ...(workspace ? { workspace } : {}), ...(limit ? { limit } : {}) }) });
  });
  const stats = async (c: Context) => {
    const workspace = c.req.query("workspace") || undefined;
    return c.json(await trace.stats(workspace ? { workspace } : {}));
  };
  // Every record, oldest first: one JSON object a line (the file's own format), or {operations} to a JSON client.
  const exportAll = async (c: Context) => {
    const format = c.req.query("format") ?? "jsonl";
    if (format !== "jsonl") throw new NexusError("INVALID_ARGUMENT", `Unknown export format '${format.slice(0, 50)}'`, { suggestion: "Use --format jsonl", details: { field: "format" } });
    const records = await trace.export();
    if (c.req.header("accept")?.includes("application/json")) return c.json({ operations: records });
    return c.body(records.map((r) => JSON.stringify(r) + "\n").join(""), 200, { "content-type": "application/x-ndjson" });
  };
  // /stats and /export are taken here, not as routes of their own: a parameter beside fixed segments
  // is what Hono's RegExpRouter (one regular expression per method) cannot hold, and this one route
  // made the whole app fall back to its TrieRouter (~6-15 us a match in the daemon's interpreter, 0.7).
  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    if (id === "stats") return stats(c);
    if (id === "export") return exportAll(c);
    const r = await trace.get(id);
    if (!r) throw new NexusError("NOT_FOUND", `No operation '${id.slice(0, 100)}' in the history`, { suggestion: "See the ids with 'nexus trace list'", details: { id: id.slice(0, 100) } });
    return c.json(r);
  });
  app.delete("/", async (c) => {
    const raw = c.req.query("olderThan") ?? "7d";
    const seconds = parseDuration(raw);
    if (seconds === undefined) throw new NexusError("INVALID_ARGUMENT", `olderThan must be a duration such as 7d or 12h, got '${raw.slice(0, 50)}'`, { suggestion: "e.g. nexus trace prune --older-than 7d", details: { field: "olderThan" } });
    return c.json(await trace.prune(seconds));
  });
  return app;
}
