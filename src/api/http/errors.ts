import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { NexusError, toNexusError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";

/** The one place a domain error becomes an HTTP response (spec §3.6 format). */
export function errorResponse(c: Context, err: unknown, log?: Logger): Response {
  const e = toNexusError(err);
  if (e.code === "INTERNAL_ERROR") log?.error(`${c.req.method} ${c.req.path}: ${(err as Error)?.stack ?? e.message}`);
  return c.json({ error: e.toJSON() }, e.httpStatus as ContentfulStatusCode);
}

export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new NexusError("INVALID_ARGUMENT", "The request body is not valid JSON", {
      suggestion: "Send a JSON object with Content-Type: application/json",
    });
  }
}
