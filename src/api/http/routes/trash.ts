import { Hono } from "hono";
import * as v from "valibot";
import { parseInput } from "../../../core/inputs.ts";
import type { Trash } from "../../../core/trash.ts";
import { readJson } from "../errors.ts";

const RestoreInput = v.strictObject({ to: v.optional(v.pipe(v.string(), v.minLength(1), v.check((x) => !x.includes("\0"), "to must not contain NUL bytes"))) });

/** `~/.nexus/trash` (an extension of the spec): what destroy kept of a worktree (core/trash.ts). */
export function trashRoutes(trash: Trash): Hono {
  const app = new Hono();
  app.get("/", (c) => c.json({ entries: trash.list() }));
  app.post("/:id/restore", async (c) => {
    const input = parseInput(RestoreInput, await readJson(c), "restore request");
    return c.json(trash.restore(c.req.param("id"), input.to));
  });
  app.delete("/:id", (c) => c.json(trash.empty(c.req.param("id"))));
  app.delete("/", (c) => c.json(trash.empty()));
  return app;
}
