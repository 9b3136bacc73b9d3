// nexus cp over REST (an extension, as docker's own /containers/{id}/archive): GET a path in the
// workspace as a tar stream, PUT a tar stream at a path. Both stream; neither holds the archive.
import { Hono } from "hono";
import { Readable } from "node:stream";
import { errors } from "../../../core/errors.ts";
import type { WorkspaceService } from "../../../core/workspaces.ts";

/** The request paths whose body is a tar stream of any size (app.ts leaves them out of the 1 MiB limit). */
export const ARCHIVE_PATH = /^\/api\/v1\/workspaces\/[^/]+\/archive$/;

function pathQuery(q: string | undefined): string {
  if (!q) throw errors.invalidArgument("Missing query parameter 'path' (the path in the workspace)", "e.g. ?path=/etc/hosts or ?path=~/.bashrc", { field: "path" });
  return q;
}

export function archiveRoutes(service: WorkspaceService): Hono {
  const app = new Hono();

  app.get("/:id/archive", async (c) => {
    const r = await service.readArchive(c.req.param("id"), pathQuery(c.req.query("path")));
    const headers: Record<string, string> = {
      "content-type": "application/x-tar",
      // As docker's X-Docker-Container-Path-Stat: what the root entry is, before the stream is read.
      "x-nexus-path-stat": Buffer.from(JSON.stringify({ path: r.path, ...r.stat })).toString("base64"),
    };
    if (r.resumed) headers["x-nexus-resumed-ms"] = String(r.resumed.durationMs);
    const body = Readable.toWeb(Readable.from(r.stream as AsyncIterable<Buffer>)) as unknown as ReadableStream<Uint8Array>;
    return new Response(body, { status: 200, headers });
  });

  app.put("/:id/archive", async (c) => {
    const path = pathQuery(c.req.query("path"));
    const body = c.req.raw.body;
    if (!body) throw errors.invalidArgument("The request has no body: send the tar stream to copy", "Content-Type: application/x-tar", { field: "body" });
    const archive = Readable.fromWeb(body as unknown as Parameters<typeof Readable.fromWeb>[0]);
    return c.json(await service.writeArchive(c.req.param("id"), path, archive));
  });

  return app;
}
