// The sync routes through app.request: a local workspace (provider bind) and the spec's errors.
// Sessions against a real container are in test/integration/sync.test.ts.
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Hono } from "hono";
import { errorResponse } from "../../src/api/http/errors.ts";
import { syncRoutes } from "../../src/api/http/routes/sync.ts";
import { errors } from "../../src/core/errors.ts";
import { SyncService } from "../../src/core/sync/service.ts";
import { SyncManager } from "../../src/sync/manager.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { appRequester } from "../helpers/http.ts";
import { makeRecord } from "../helpers/records.ts";

describe("sync routes, a bind-mounted workspace", () => {
  test("status says bind with the worktree's files; pause refused; resume, flush, conflicts answer at once; resolve NOT_FOUND", async () => {
    await using t = tempDir("sync-routes");
    const tree = join(t.path, "tree");
    mkdirSync(join(tree, "src"), { recursive: true });
    mkdirSync(join(tree, "node_modules/x"), { recursive: true });
    writeFileSync(join(tree, "src/a.ts"), "a");
    writeFileSync(join(tree, "README.md"), "r");
    writeFileSync(join(tree, "node_modules/x/i.js"), "excluded");
    const r = makeRecord({ name: "local", mountPath: tree });
    const sync = new SyncService({ resolve: (ref) => (ref === r.id || ref === r.name ? r : (() => { throw errors.workspaceNotFound(ref); })()), manager: new SyncManager({ dir: join(t.path, "sync"), env: {} }) });
    const app = new Hono();
    app.onError((err, c) => errorResponse(c, err));
    app.route("/workspaces", syncRoutes(sync));
    const req = appRequester(app);

    const status = await req("GET", "/workspaces/local/sync");
    expect(status.status).toBe(200);
    expect(await status.json()).toEqual({ workspaceId: r.id, provider: "bind", status: "syncing", sessionId: null, stats: { filesTotal: 2, filesSynced: 2, conflicts: 0, bytesTransferred: 0 }, lastSyncAt: null, error: null });
    expect(sync.summary(r)).toEqual({ provider: "bind", status: "syncing", lastSyncAt: null });

    const pause = await req("POST", "/workspaces/local/sync/pause");
    expect(pause.status).toBe(409);
    expect(((await pause.json()) as { error: { code: string; suggestion: string } }).error).toMatchObject({ code: "INVALID_STATE", suggestion: expect.stringContaining("both sides") });
    expect(((await (await req("POST", "/workspaces/local/sync/resume")).json()) as { provider: string }).provider).toBe("bind");
    expect(await (await req("POST", "/workspaces/local/sync/flush")).json()).toEqual({ flushed: true, durationMs: 0 });
    expect(await (await req("GET", "/workspaces/local/sync/conflicts")).json()).toEqual({ conflicts: [] });

    const resolve = await req("POST", "/workspaces/local/sync/conflicts/resolve", { path: "src/a.ts", winner: "host" });
    expect(resolve.status).toBe(404);
    expect(((await resolve.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    const bad = await req("POST", "/workspaces/local/sync/conflicts/resolve", { path: "src/a.ts", winner: "nobody" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("winner must be host or workspace");
    const missing = await req("GET", "/workspaces/nope/sync");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("WORKSPACE_NOT_FOUND");
  });
});
