// REST fuzzer (bounded, seeded): random routes, path segments and bodies against the app over the real
// services. Nothing may answer 5xx (but 501 for features not there) or an answer that is no error envelope.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ERROR_CODES } from "../../src/core/errors.ts";
import { harness, type Harness } from "./harness.ts";
import { fuzzRuns, fuzzSeed, Gen, rng } from "./fuzz-gen.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

let h: Harness;

beforeAll(async () => {
  h = await harness("sec-fuzz-rest");
}, 300_000);

afterAll(async () => {
  await h?.close();
});

// Routes that change a workspace's state are fuzzed against names that do not exist (create gets
// bodies that cannot name a real repository of the caller's: `repo` is never generated).
const ROUTES: Array<[string, string]> = [
  ["GET", "/api/v1/workspaces"],
  ["POST", "/api/v1/workspaces"],
  ["GET", "/api/v1/workspaces/{id}"],
  ["GET", "/api/v1/workspaces/{id}/status"],
  ["PATCH", "/api/v1/workspaces/{id}"],
  ["DELETE", "/api/v1/workspaces/{id}"],
  ["POST", "/api/v1/workspaces/{id}/start"],
  ["POST", "/api/v1/workspaces/{id}/stop"],
  ["POST", "/api/v1/workspaces/{id}/exec"],
  ["POST", "/api/v1/workspaces/{id}/pause"],
  ["POST", "/api/v1/workspaces/{id}/resume"],
  ["GET", "/api/v1/workspaces/{id}/ssh"],
  ["POST", "/api/v1/workspaces/{id}/ssh/config"],
  ["GET", "/api/v1/workspaces/{id}/services"],
  ["POST", "/api/v1/workspaces/{id}/services/{seg}/restart"],
  ["GET", "/api/v1/workspaces/{id}/services/{seg}/logs"],
  ["POST", "/api/v1/workspaces/{id}/hooks/{seg}"],
  ["GET", "/api/v1/workspaces/{id}/ports"],
  ["POST", "/api/v1/workspaces/{id}/ports"],
  ["DELETE", "/api/v1/workspaces/{id}/ports/{seg}"],
  ["GET", "/api/v1/sessions"],
  ["GET", "/api/v1/{seg}"],
  ["PUT", "/api/v1/workspaces/{id}"],
];

const SEGMENTS = ["nope", "%2e%2e", "..", "%00", "a%2Fb", "%ff", "x".repeat(300), "ws-000000000000", "%E2%80%AE", "-", "~"];

test("random REST requests answer 4xx (or 501) with the error envelope, never another 5xx", async () => {
  const g = new Gen(rng(fuzzSeed("rest")));
  const runs = fuzzRuns();
  const codes = new Set(Object.keys(ERROR_CODES));
  for (let i = 0; i < runs; i++) {
    const [method, template] = g.pick(ROUTES);
    const path = template.replace("{id}", g.pick(SEGMENTS)).replace("{seg}", g.pick(SEGMENTS));
    const query = g.int(4) === 0 ? `?${g.pick(["force", "status", "tail", "follow", "since"])}=${encodeURIComponent(g.string().slice(0, 50))}` : "";
    const hasBody = method !== "GET" && g.int(5) !== 0;
    const body = hasBody ? g.body().replace(/"repo"/g, '"rep0"') : undefined;
    const res = await h.req(method, path + query, body, hasBody ? { "content-type": g.pick(["application/json", "text/plain", "application/x-www-form-urlencoded"]) } : {});
    const what = `#${i} ${method} ${path + query} ${body?.slice(0, 200) ?? ""}`;
    if (res.status >= 500 && res.status !== 501) throw new Error(`${what} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    if (res.status >= 400) {
      const text = await res.text();
      let code: string | undefined;
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
      } catch {
        throw new Error(`${what} answered ${res.status} without JSON: ${text.slice(0, 200)}`);
      }
      if (!code || !codes.has(code)) throw new Error(`${what} answered ${res.status} with code ${code}`);
    } else {
      await res.arrayBuffer();
    }
  }
  // Nothing was made on the way.
  expect(h.s.store.list()).toEqual([]);
}, 600_000);
