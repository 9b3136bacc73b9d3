import { Hono } from "hono";
import { parseInput, RunHookInput, ServiceLogsQuery } from "../../../core/inputs.ts";
import type { WorkspaceService } from "../../../core/workspaces.ts";
import { readJson } from "../errors.ts";
import { ndjsonResponse, wantsStream } from "../ndjson.ts";

/** Hooks and services of a workspace (spec §3.1 "Run Hook", "Services"). */
export function serviceRoutes(service: WorkspaceService): Hono {
  const app = new Hono();

  app.post("/:id/hooks/:hook", async (c) => {
    const input = parseInput(RunHookInput, await readJson(c), "hook request");
    return c.json(await service.runHook(c.req.param("id"), c.req.param("hook"), input.timeout !== undefined ? { timeoutSeconds: input.timeout } : {}));
  });

  app.get("/:id/services", async (c) => c.json(await service.listServices(c.req.param("id"))));

  // Logs: JSON {entries} by default; with follow (or Accept: application/x-ndjson) one entry per line as they come.
  app.get("/:id/services/:service/logs", async (c) => {
    const q = parseInput(ServiceLogsQuery, c.req.query(), "logs query");
    const follow = q.follow !== undefined && ["true", "1", ""].includes(q.follow);
    const tail = q.tail ?? 100;
    const id = c.req.param("id");
    const name = c.req.param("service");
    if (follow || wantsStream(c.req.header("accept"))) {
      return ndjsonResponse(async (send, signal) => {
        await service.serviceLogs(id, name, { tail, follow, signal, onResumed: (r) => send({ type: "resumed", ...r }), ...(q.since ? { since: q.since } : {}) }, (e) => send({ type: "log", ...e }));
        return { serviceName: name };
      }, c.req.raw.signal);
    }
    const entries: unknown[] = [];
    let resumed: object | undefined;
    await service.serviceLogs(id, name, { tail, follow: false, onResumed: (r) => (resumed = r), ...(q.since ? { since: q.since } : {}) }, (e) => entries.push(e));
    return c.json({ workspaceId: service.resolve(id).id, service: name, entries, ...(resumed ? { resumed } : {}) });
  });

  app.post("/:id/services/:service/restart", async (c) => c.json(await service.restartService(c.req.param("id"), c.req.param("service"))));

  return app;
}
