// Finding 8: an exec answered as one JSON document must not hold unbounded output in the daemon.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { makeRepo } from "../helpers/fixtures.ts";
import { harness, rejection, type Harness } from "./harness.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

let h: Harness;

beforeAll(async () => {
  h = await harness("sec-exec");
  await h.s.workspaces.create({ name: "sec-exec", path: makeRepo(join(h.root.path, "repo")) });
}, 600_000);

afterAll(async () => {
  await h?.close();
});

test("REST /exec with 64 MiB of output answers RESOURCE_EXHAUSTED (stream it instead) and the daemon's memory stays bounded", async () => {
  const rssBefore = process.memoryUsage().rss;
  const res = await h.req("POST", "/api/v1/workspaces/sec-exec/exec", { command: "head", args: ["-c", "67108864", "/dev/zero"] });
  expect(res.status).toBe(503);
  const body = (await res.json()) as { error: { code: string; suggestion: string; retryable: boolean } };
  expect(body.error.code).toBe("RESOURCE_EXHAUSTED");
  expect(body.error.retryable).toBe(false);
  expect(body.error.suggestion).toContain("x-ndjson");
  // The cap is 16 MiB: what the process grew by stays far below the 64 MiB the command printed.
  expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
  // The workspace still answers.
  const ok = await h.req("POST", "/api/v1/workspaces/sec-exec/exec", { command: "echo", args: ["still here"] });
  expect(((await ok.json()) as { stdout: string }).stdout).toBe("still here\n");
}, 180_000);

test("the core's collected exec stops past 16 MiB, whatever the transport", async () => {
  const err = await rejection(h.s.workspaces.execCollect("sec-exec", { command: "sh", args: ["-c", "head -c 20000000 /dev/zero"] }), "RESOURCE_EXHAUSTED");
  expect(err.details?.limitBytes).toBe(16 * 1024 * 1024);
}, 180_000);
