// The checkpoint commands' messages (delete, restore), from source against a stand-in API (--url): they name the
// workspace by its name even when it was left out and the active one (kept by id) was used.
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { nexusPaths } from "../../src/store/paths.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { serveLocal } from "../helpers/serve.ts";
import { nexusFromSource as nexus } from "../helpers/source-cli.ts";

const WS = { id: "ws-0123456789ab", name: "demo" };
const CP = { id: "ckpt-0123456789ab", name: "before-refactor", workspaceId: WS.id, workspaceName: WS.name };

/** An API that knows one checkpoint of one workspace, by id or name; every request is kept. */
function standInApi() {
  const seen: string[] = [];
  const server = serveLocal((req) => {
    const url = new URL(req.url);
    seen.push(`${req.method} ${url.pathname}${url.search}`);
    const m = /^\/api\/v1\/checkpoints\/([^/]+?)(?:\/restore)?$/.exec(url.pathname);
    const ws = url.searchParams.get("workspace");
    if (!m || ![CP.id, CP.name].includes(decodeURIComponent(m[1]!)) || (ws !== null && ws !== WS.id && ws !== WS.name)) {
      return Response.json({ error: { code: "NOT_FOUND", message: "no such checkpoint", retryable: false } }, { status: 404 });
    }
    if (req.method === "DELETE") return new Response(null, { status: 204 });
    if (req.method === "POST") return restoreAnswer();
    return Response.json({ ...CP, createdAt: new Date().toISOString() });
  });
  return { server, seen };
}

/** A restore's answer as the daemon streams it: progress, then the result. */
function restoreAnswer(): Response {
  const view = { ...CP, createdAt: new Date().toISOString() };
  const restore = { checkpoint: view, safetyCheckpoint: { ...view, id: "ckpt-ba9876543210", name: "auto-before-restore-1" }, workspaceId: WS.id, status: "running", headMoved: false, durationMs: 1200, message: "Restored checkpoint before-refactor" };
  const lines = [{ type: "progress", message: "stopping" }, { type: "result", status: 200, restore }];
  return new Response(lines.map((l) => JSON.stringify(l) + "\n").join(""), { headers: { "content-type": "application/x-ndjson" } });
}

describe("checkpoint delete", () => {
  test("names the workspace, also when the active one (kept by id) was used", async () => {
    await using dir = tempDir("cp-cli");
    const { server, seen } = standInApi();
    await using _ = server;
    const paths = nexusPaths({ NEXUS_HOME: join(dir.path, "nexus") });
    mkdirSync(dirname(paths.activeWorkspace), { recursive: true });
    writeFileSync(paths.activeWorkspace, `${WS.id}\n`);
    const text = await nexus(["--url", server.url, "checkpoint", "delete", "before-refactor"], dir.path);
    expect(text.stderr).toBe("");
    expect(text.stdout).toBe("Deleted checkpoint before-refactor of demo\n");
    expect(text.code).toBe(0);
    const json = await nexus(["--url", server.url, "checkpoint", "delete", WS.id, CP.id, "--json"], dir.path);
    expect(JSON.parse(json.stdout)).toEqual({ deleted: CP.id, workspace: "demo" });
    expect(seen.filter((s) => s.startsWith("DELETE"))).toHaveLength(2);
  });
});

describe("restore", () => {
  test("names the workspace, also when the active one (kept by id) was used", async () => {
    await using dir = tempDir("cp-cli");
    const { server } = standInApi();
    await using _ = server;
    const paths = nexusPaths({ NEXUS_HOME: join(dir.path, "nexus") });
    mkdirSync(dirname(paths.activeWorkspace), { recursive: true });
    writeFileSync(paths.activeWorkspace, `${WS.id}\n`);
    const r = await nexus(["--url", server.url, "restore", "before-refactor"], dir.path);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("Restored checkpoint before-refactor\nRestored demo to before-refactor in 1.2s (running)\nUndo with: nexus restore demo auto-before-restore-1\n");
  });
});
