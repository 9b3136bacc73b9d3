import { Hono } from "hono";
import { parseInput } from "../../../core/inputs.ts";
import { ResolveConflictInput, type SyncService } from "../../../core/sync/service.ts";
import { readJson } from "../errors.ts";

/** Spec §3.1 File Sync under /workspaces/{id}/sync. Pause and resume answer the status, flush once both sides agree. */
export function syncRoutes(sync: SyncService): Hono {
  const app = new Hono();
  app.get("/:id/sync", (c) => c.json(sync.status(c.req.param("id"))));
  app.post("/:id/sync/pause", async (c) => c.json(await sync.pause(c.req.param("id"))));
  app.post("/:id/sync/resume", async (c) => c.json(await sync.resume(c.req.param("id"))));
  app.post("/:id/sync/flush", async (c) => c.json(await sync.flush(c.req.param("id"))));
  app.get("/:id/sync/conflicts", (c) => c.json(sync.conflicts(c.req.param("id"))));
  app.post("/:id/sync/conflicts/resolve", async (c) => {
    const input = parseInput(ResolveConflictInput, await readJson(c), "resolve request");
    return c.json(await sync.resolveConflict(c.req.param("id"), input));
  });
  return app;
}
