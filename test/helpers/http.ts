// Requests to the Hono app in-process (app.request, no socket): a JSON body when one is given.
import type { Hono } from "hono";

export type AppRequest = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Response | Promise<Response>;

export function appRequester(app: Hono): AppRequest {
  return (method, path, body, headers = {}) =>
    app.request(path, {
      method,
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
}
