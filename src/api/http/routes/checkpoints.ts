import { Hono } from "hono";
import { CheckpointQuery, CreateCheckpointInput, RestoreCheckpointInput } from "../../../core/checkpoints/inputs.ts";
import type { CheckpointService } from "../../../core/checkpoints/service.ts";
import { parseInput } from "../../../core/inputs.ts";
import { readJson } from "../errors.ts";
import { ndjsonResponse, wantsStream } from "../ndjson.ts";

/** Spec §3.1 Checkpoints under /workspaces/{id}/checkpoints. */
export function workspaceCheckpointRoutes(checkpoints: CheckpointService): Hono {
  const app = new Hono();
  app.post("/:id/checkpoints", async (c) => {
    const input = parseInput(CreateCheckpointInput, await readJson(c), "checkpoint request");
    return c.json(await checkpoints.create(c.req.param("id"), input), 201);
  });
  app.get("/:id/checkpoints", async (c) => {
    // Extension: ?wait=true answers once every checkpoint's container changes are listed.
    const q = parseInput(CheckpointQuery, c.req.query(), "checkpoints query");
    return c.json({ checkpoints: q.wait ? await checkpoints.listWithChanges(c.req.param("id")) : checkpoints.list(c.req.param("id")) });
  });
  return app;
}

/**
 * /checkpoints/{id}: restore (spec), and get/delete (extensions). `?workspace=` (restore: body
 * `workspaceId`) scopes a name to one workspace and refuses another workspace's checkpoint.
 */
export function checkpointRoutes(checkpoints: CheckpointService): Hono {
  const app = new Hono();
  app.get("/:id", async (c) => {
    const q = parseInput(CheckpointQuery, c.req.query(), "checkpoint query");
    const ws = q.workspace || undefined;
    return c.json(q.wait ? await checkpoints.getWithChanges(c.req.param("id"), ws) : checkpoints.get(c.req.param("id"), ws));
  });
  app.delete("/:id", async (c) => {
    await checkpoints.delete(c.req.param("id"), c.req.query("workspace") || undefined);
    return c.body(null, 204);
  });
  app.post("/:id/restore", async (c) => {
    const input = parseInput(RestoreCheckpointInput, await readJson(c), "restore request");
    const id = c.req.param("id");
    if (wantsStream(c.req.header("accept"))) {
      return ndjsonResponse(async (send) => ({ status: 200, restore: await checkpoints.restore(id, input.workspaceId, (p) => send({ type: "progress", ...p })) }), c.req.raw.signal);
    }
    return c.json(await checkpoints.restore(id, input.workspaceId));
  });
  return app;
}
