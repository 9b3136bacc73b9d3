// The REST app's routes fit Hono's RegExpRouter (one regular expression per method). A route that
// does not (a parameter beside fixed segments, e.g. /trace/:id beside /trace/stats) silently makes
// the SmartRouter fall back to its TrieRouter for every request, which the daemon's interpreter
// (no JIT, src/runtime/bun.ts) pays for on each exec.
import { expect, test } from "bun:test";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { createApp } from "../../src/api/http/app.ts";
import { silentLogger } from "../../src/core/log.ts";
import { buildInfo } from "../../src/version.ts";

/** A dependency that is there (so its routes are) and is never called. */
const present = new Proxy({}, { get: () => () => { throw new Error("not called"); } }) as never;

test("every route of the app, with every optional part present, fits the RegExpRouter", () => {
  const app = createApp({
    workspaces: present,
    build: buildInfo(),
    daemon: { shutdown: () => {}, pid: 1, startedAt: "2026-01-01T00:00:00.000Z" },
    log: silentLogger,
    forwards: present,
    sessions: present,
    checkpoints: present,
    tokens: present,
    trash: present,
    trace: present,
    sync: present,
    requireToken: async () => {},
  });
  const router = new RegExpRouter<string>();
  const unfit: string[] = [];
  for (const r of app.routes) {
    try {
      router.add(r.method, r.path, `${r.method} ${r.path}`);
    } catch {
      unfit.push(`${r.method} ${r.path}`);
    }
  }
  expect(unfit).toEqual([]);
  const [handlers] = router.match("GET", "/api/v1/trace/stats") as [Array<[string, unknown]>, unknown];
  expect(handlers.map(([h]) => h)).toContain("GET /api/v1/trace/:id");
});
