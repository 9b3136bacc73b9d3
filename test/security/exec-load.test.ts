// Low list: 1,000 concurrent REST execs against one workspace. Each must succeed (or, past a real
// limit, answer RESOURCE_EXHAUSTED, retryable), never CONNECTION_LOST; the daemon's memory stays bounded.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { makeRepo } from "../helpers/fixtures.ts";
import { harness, type Harness } from "./harness.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

let h: Harness;

beforeAll(async () => {
  h = await harness("sec-load");
  await h.s.workspaces.create({ name: "sec-load", path: makeRepo(join(h.root.path, "repo")) });
}, 600_000);

afterAll(async () => {
  await h?.close();
});

const EXECS = Number(process.env.NEXUS_LOAD_EXECS ?? 1000);

test(`${EXECS} concurrent REST execs of 'true' all succeed, and the daemon's memory stays bounded`, async () => {
  // Warm: the pooled connection exists before the burst (as on a daemon in use).
  expect((await h.req("POST", "/api/v1/workspaces/sec-load/exec", { command: "true" })).status).toBe(200);
  const rssBefore = process.memoryUsage().rss;
  const statuses = new Map<string, number>();
  await Promise.all(
    Array.from({ length: EXECS }, async () => {
      const res = await h.req("POST", "/api/v1/workspaces/sec-load/exec", { command: "true" });
      const body = (await res.json()) as { exitCode?: number; error?: { code: string } };
      const key = res.status === 200 ? `exit ${body.exitCode}` : `${res.status} ${body.error?.code} ${body.error ? (body.error as { message?: string }).message : ""}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }),
  );
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  console.log(`load: ${EXECS} execs -> ${JSON.stringify(Object.fromEntries(statuses))}; rss +${Math.round(rssGrowth / 1048576)} MiB`);
  expect(Object.fromEntries(statuses)).toEqual({ "exit 0": EXECS });
  expect(rssGrowth).toBeLessThan(512 * 1024 * 1024);
  // The workspace still answers afterwards.
  const ok = await h.req("POST", "/api/v1/workspaces/sec-load/exec", { command: "echo", args: ["still here"] });
  expect(((await ok.json()) as { stdout: string }).stdout).toBe("still here\n");
}, 600_000);
