import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { isStreamedExec } from "./exec-input.ts";
import { NexusError } from "../../core/errors.ts";
import type { PortForwards } from "../../core/forwards.ts";
import type { Logger } from "../../core/log.ts";
import type { WorkspaceService } from "../../core/workspaces.ts";
import type { BuildInfo } from "../../version.ts";
import { parseDuration } from "../../config/units.ts";
import { bearer } from "../../auth/tokens.ts";
import { wsRoute, type WsRouteDeps } from "../ws/route.ts";
import { errorResponse, readJson } from "./errors.ts";
import { systemRoutes, type DaemonControl } from "./routes/system.ts";
import { portRoutes } from "./routes/ports.ts";
import { serviceRoutes } from "./routes/services.ts";
import { sessionRoutes } from "./routes/sessions.ts";
import type { SessionService } from "../../core/sessions/service.ts";
import { workspaceRoutes } from "./routes/workspaces.ts";
import { ARCHIVE_PATH, archiveRoutes } from "./routes/archive.ts";
import { trashRoutes } from "./routes/trash.ts";
import type { Trash } from "../../core/trash.ts";
import { checkpointRoutes, workspaceCheckpointRoutes } from "./routes/checkpoints.ts";
import type { CheckpointService } from "../../core/checkpoints/service.ts";
import type { OperationTrace } from "../../core/trace/recorder.ts";
import { CLIENT_HEADER, withSurface } from "../../core/trace/surface.ts";
import { traceRoutes } from "./routes/trace.ts";
import { syncRoutes } from "./routes/sync.ts";
import type { SyncService } from "../../core/sync/service.ts";

export const EXPECT_VERSION_HEADER = "x-nexus-expect-version";
/** Request bodies are small JSON documents (as WebSocket messages, spec §3.3 limits). */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface AppDeps {
  workspaces: WorkspaceService;
  /** Port forwarding (/workspaces/{id}/ports); left out, those routes do not exist. */
  forwards?: PortForwards;
  /** Sessions (/sessions, exec with detach); left out, those routes do not exist. */
  sessions?: SessionService;
  /** Checkpoints (/workspaces/{id}/checkpoints, /checkpoints/{id}); left out, those routes answer UNIMPLEMENTED. */
  checkpoints?: CheckpointService;
  build: BuildInfo;
  daemon: DaemonControl;
  log: Logger;
  /** TCP: every request carries `Authorization: Bearer <token>` (the daemon token or a JWT signed with it). */
  requireToken?: (token: string | undefined) => Promise<void>;
  /** Mints JWTs for POST /api/v1/tokens. */
  tokens?: { create(ttlSeconds: number): Promise<{ token: string; expiresAt: string }> };
  /** TCP: the Origins a browser may open the WebSocket from (the daemon's own addresses); others are refused. */
  allowedOrigins?: string[];
  /** ~/.nexus/trash (destroy's leftovers); left out, those routes do not exist. */
  trash?: Trash;
  /** WebSocket /v1/ws. */
  ws?: WsRouteDeps;
  /** The operation history (/trace, an extension of the spec); left out, those routes do not exist. */
  trace?: OperationTrace;
  /** File sync (/workspaces/{id}/sync...); left out, those routes answer UNIMPLEMENTED. */
  sync?: SyncService;
}

// Spec routes whose features later work lands; until then they answer honestly that they are not there.
const NOT_YET: Array<[method: "get" | "post" | "patch" | "delete", path: string, feature: string]> = [
  // Answered by the checkpoint and sync routes when the app has them (registered first, they match first).
  ["post", "/workspaces/:id/checkpoints", "checkpoints"],
  ["get", "/workspaces/:id/checkpoints", "checkpoints"],
  ["post", "/checkpoints/:id/restore", "checkpoint restore"],
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
  // The WebSocket authenticates with its first message (a browser cannot set headers on it).
  // On TCP a web page in the user's browser could open the WebSocket (browsers send no CORS check
  // for it): a browser's Origin that is not the daemon's own listener is refused.
  const origins = deps.allowedOrigins;
  if (deps.ws && origins) {
    app.use("/v1/ws", async (c, next) => {
      const origin = c.req.header("origin");
      if (origin !== undefined && !origins.includes(origin.toLowerCase())) {
        throw new NexusError("PERMISSION_DENIED", `WebSocket connections from ${origin.slice(0, 200)} are refused`, {
          suggestion: "Connect from a client that sends no Origin (the CLI, a script), or from the daemon's own address",
          details: { origin: origin.slice(0, 200) },
        });
      }
      await next();
    });
  }
  if (deps.ws) app.get("/v1/ws", wsRoute(deps.ws));
  const requireToken = deps.requireToken;
  if (requireToken) {
    app.use("*", async (c, next) => {
      if (c.req.path !== "/v1/ws") await requireToken(bearer(c.req.header("authorization")));
      await next();
    });
  }
  const api = new Hono();
  const limit = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new NexusError("RESOURCE_EXHAUSTED", `The request body is over the limit of ${MAX_BODY_BYTES} bytes`, {
        suggestion: "Send less; copy files over SSH (scp/rsync) or gRPC WriteFile",
        retryable: false,
        details: { limit: MAX_BODY_BYTES },
      });
    },
  });
  // Every request under /api/v1 goes through one middleware, in this order (one layer of Hono's
  // chain instead of three, each of which cost every request its own dispatch and promise):
  // 1. The body limit. A streamed exec's body is the command's stdin: as long as the input, read line
  //    by line (exec-input.ts); nexus cp's upload is a tar stream of any size (routes/archive.ts).
  // 2. The local CLI says which daemon build it expects; another build answers before doing anything,
  //    so the CLI can replace it and retry (one round trip in the usual case instead of two).
  // 3. The operation history records which door each operation came in through (core/trace/).
  const build = `${deps.build.version}+${deps.build.commit}`;
  const unlimited = (c: Context) =>
    (c.req.method === "POST" && isStreamedExec(c.req.header("content-type")) && /^\/api\/v1\/workspaces\/[^/]+\/exec$/.test(c.req.path)) ||
    (c.req.method === "PUT" && ARCHIVE_PATH.test(c.req.path));
  // What the limit itself answers for a length declared within it (go on), told from the headers
  // alone: the limit looks at the request's body first, and reading `body` makes Bun build a stream
  // for a body it holds whole, which the handler's read then goes through.
  const declaredWithin = (c: Context) => {
    const length = c.req.raw.headers.get("content-length");
    return length !== null && !c.req.raw.headers.has("transfer-encoding") && !(parseInt(length, 10) > MAX_BODY_BYTES);
  };
  api.use("*", (c, next) => {
    const inner = () => {
      const expected = c.req.header(EXPECT_VERSION_HEADER);
      if (expected && expected !== build && !c.req.path.endsWith("/version") && !c.req.path.endsWith("/daemon/shutdown")) {
        throw new NexusError("VERSION_MISMATCH", `The daemon runs ${build}, the CLI expects ${expected}`, {
          suggestion: "The CLI restarts the daemon by itself; run 'nexus daemon stop' if this persists",
          details: { daemon: build, expected },
        });
      }
      return withSurface(c.req.header(CLIENT_HEADER) === "cli" ? "cli" : "rest", next);
    };
    return unlimited(c) || declaredWithin(c) ? inner() : limit(c, inner);
  });
  api.route("/", systemRoutes(deps.build, deps.daemon));
  api.route("/workspaces", workspaceRoutes(deps.workspaces, deps.sessions));
  if (deps.sessions) api.route("/sessions", sessionRoutes(deps.sessions));
  api.route("/workspaces", serviceRoutes(deps.workspaces));
  api.route("/workspaces", archiveRoutes(deps.workspaces));
  if (deps.forwards) api.route("/workspaces", portRoutes(deps.forwards));
  if (deps.trash) api.route("/trash", trashRoutes(deps.trash));
  if (deps.trace) api.route("/trace", traceRoutes(deps.trace));
  // The configured engines (an extension of the spec: `nexus engines`).
  api.get("/engines", async (c) => c.json({ engines: await deps.workspaces.engines() }));
  if (deps.checkpoints) {
    api.route("/workspaces", workspaceCheckpointRoutes(deps.checkpoints));
    api.route("/checkpoints", checkpointRoutes(deps.checkpoints));
  }
  if (deps.sync) api.route("/workspaces", syncRoutes(deps.sync));
  // The active workspace (`nexus use`): an extension of the spec, which sets it through /switch.
  api.get("/active-workspace", (c) => {
    const r = deps.workspaces.active();
    return c.json({ workspaceId: r?.id ?? null, name: r?.name ?? null });
  });
  api.delete("/active-workspace", (c) => {
    deps.workspaces.clearActive();
    return c.body(null, 204);
  });
  const tokens = deps.tokens;
  if (tokens) {
    // An extension of the spec: `nexus token create` asks here for a JWT that expires.
    api.post("/tokens", async (c) => {
      const body = (await readJson(c)) as { ttl?: unknown };
      const ttl = body.ttl === undefined ? 3600 : typeof body.ttl === "number" || typeof body.ttl === "string" ? parseDuration(body.ttl) : undefined;
      // A year at most: a larger ttl is no expiry (and 1e308 s is no date at all).
      if (ttl === undefined || !(ttl > 0) || ttl > 366 * 86_400) {
        throw new NexusError("INVALID_ARGUMENT", "ttl must be seconds or a duration such as 1h, at most a year", { suggestion: "e.g. {\"ttl\":\"1h\"}", details: { field: "ttl" } });
      }
      return c.json(await tokens.create(ttl), 201);
    });
  }
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
