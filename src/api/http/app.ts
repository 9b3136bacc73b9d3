import { Hono } from "hono";
import { NexusError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { WorkspaceService } from "../../core/workspaces.ts";
import type { BuildInfo } from "../../version.ts";
import { errorResponse } from "./errors.ts";
import { systemRoutes, type DaemonControl } from "./routes/system.ts";
import { workspaceRoutes } from "./routes/workspaces.ts";

export const EXPECT_VERSION_HEADER = "x-nexus-expect-version";

export interface AppDeps {
  workspaces: WorkspaceService;
  build: BuildInfo;
  daemon: DaemonControl;
  log: Logger;
}

// Spec routes whose features later work lands; until then they answer honestly that they are not there.
const NOT_YET: Array<[method: "get" | "post" | "patch" | "delete", path: string, feature: string]> = [
  ["post", "/workspaces/:id/checkpoints", "checkpoints"],
  ["get", "/workspaces/:id/checkpoints", "checkpoints"],
  ["post", "/checkpoints/:id/restore", "checkpoint restore"],
  ["get", "/sessions", "sessions"],
  ["post", "/sessions/:id/attach", "sessions"],
  ["delete", "/sessions/:id", "sessions"],
  ["post", "/workspaces/:id/hooks/:hook", "lifecycle hooks"],
  ["get", "/workspaces/:id/services", "services"],
  ["get", "/workspaces/:id/services/:service/logs", "service logs"],
  ["post", "/workspaces/:id/services/:service/restart", "services"],
  ["post", "/workspaces/:id/ports", "port forwarding"],
  ["post", "/workspaces/:id/ports/:port/public", "port forwarding"],
  ["get", "/workspaces/:id/sync", "file sync"],
  ["post", "/workspaces/:id/sync/pause", "file sync"],
  ["post", "/workspaces/:id/sync/resume", "file sync"],
  ["post", "/workspaces/:id/sync/flush", "file sync"],
  ["get", "/workspaces/:id/sync/conflicts", "file sync"],
  ["post", "/workspaces/:id/sync/conflicts/resolve", "file sync"],
];

/** The REST app, built once: served on the unix socket, called in-process, and tested with app.request(). */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  app.onError((err, c) => errorResponse(c, err, deps.log));
  app.notFound((c) =>
    errorResponse(c, new NexusError("NOT_FOUND", `No route ${c.req.method} ${c.req.path}`, { suggestion: "See the API spec for the routes under /api/v1" })),
  );
  const api = new Hono();
  // The local CLI says which daemon build it expects; another build answers before doing anything,
  // so the CLI can replace it and retry (one round trip in the usual case instead of two).
  const build = `${deps.build.version}+${deps.build.commit}`;
  api.use("*", async (c, next) => {
    const expected = c.req.header(EXPECT_VERSION_HEADER);
    if (expected && expected !== build && !c.req.path.endsWith("/version") && !c.req.path.endsWith("/daemon/shutdown")) {
      throw new NexusError("VERSION_MISMATCH", `The daemon runs ${build}, the CLI expects ${expected}`, {
        suggestion: "The CLI restarts the daemon by itself; run 'nexus daemon stop' if this persists",
        details: { daemon: build, expected },
      });
    }
    await next();
  });
  api.route("/", systemRoutes(deps.build, deps.daemon));
  api.route("/workspaces", workspaceRoutes(deps.workspaces));
  // The active workspace (`nexus use`): an extension of the spec, which sets it through /switch.
  api.get("/active-workspace", (c) => {
    const r = deps.workspaces.active();
    return c.json({ workspaceId: r?.id ?? null, name: r?.name ?? null });
  });
  api.delete("/active-workspace", (c) => {
    deps.workspaces.clearActive();
    return c.body(null, 204);
  });
  for (const [method, path, feature] of NOT_YET) {
    api[method](path, () => {
      throw new NexusError("UNIMPLEMENTED", `${feature[0]!.toUpperCase()}${feature.slice(1)} is not implemented in this version of Nexus yet`, {
        suggestion: "See the README for what works so far",
        details: { feature },
      });
    });
  }
  app.route("/api/v1", api);
  return app;
}
