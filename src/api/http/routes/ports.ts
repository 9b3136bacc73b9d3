import { Hono } from "hono";
import { NexusError } from "../../../core/errors.ts";
import type { PortForwards } from "../../../core/forwards.ts";
import { parseInput, PortForwardInput } from "../../../core/inputs.ts";
import { readJson } from "../errors.ts";
import { ndjsonResponse, wantsStream } from "../ndjson.ts";

/** Port forwarding (spec "Port Forwarding"), mounted under /workspaces; GET and DELETE extend the spec. */
export function portRoutes(forwards: PortForwards): Hono {
  const app = new Hono();

  app.get("/:id/ports", async (c) => c.json({ ports: await forwards.list(c.req.param("id")) }));

  app.post("/:id/ports", async (c) => {
    const id = c.req.param("id");
    const { temporary, ...input } = parseInput(PortForwardInput, await readJson(c), "port forward request");
    if (temporary) {
      if (!wantsStream(c.req.header("accept"))) {
        throw new NexusError("INVALID_ARGUMENT", "A temporary forward lasts as long as its request: it needs a streamed request", {
          suggestion: "Send 'Accept: application/x-ndjson' (as 'nexus proxy' does), or leave out 'temporary' for a lasting forward",
          details: { field: "temporary" },
        });
      }
      // Made before the stream starts, so a bad request still gets its HTTP status. The stream stays
      // open while the forward lives; the client going away removes it.
      const held = await forwards.hold(id, input);
      return ndjsonResponse(async (send, signal) => {
        send({ type: "forward", ...held.forward });
        return held.until(signal);
      }, c.req.raw.signal);
    }
    const result = await forwards.add(id, input);
    return c.json(result, result.created ? 201 : 200);
  });

  app.post("/:id/ports/:port_id/public", async (c) => c.json(await forwards.makePublic(c.req.param("id"), c.req.param("port_id"))));

  app.delete("/:id/ports/:port_id", async (c) => {
    await forwards.remove(c.req.param("id"), c.req.param("port_id"));
    return c.body(null, 204);
  });

  return app;
}
