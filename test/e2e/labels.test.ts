// Labels through the compiled binary: `create --label`, `list -l`, `status`, --json, and gRPC's
// label_selector on the same daemon; real Docker, a temporary NEXUS_HOME and git repository.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { join } from "node:path";
import { fromGrpcError } from "../../src/api/grpc/errors.ts";
import { workspaceServiceDefinition } from "../../src/api/grpc/server.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, tearDown } from "../helpers/cli.ts";

slowTests();

const root = tempDir("labels");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const Client = grpc.makeGenericClientConstructor(workspaceServiceDefinition(), "WorkspaceService");
let client: grpc.Client & Record<string, any>;

const nexus = nexusRunner({ home, cwd: repo });

function call<T = any>(method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method](req, new grpc.Metadata(), { deadline: Date.now() + 300_000 }, (err: unknown, res: T) => (err ? reject(err) : resolve(res))));
}

beforeAll(() => {
  requireE2E();
}, 900_000);

afterAll(async () => {
  client?.close();
  await tearDown(nexus, root, ["lab1"]);
});

describe("labels end to end", () => {
  test("a bad label is refused before anything is made", () => {
    const r = nexus(["create", "lab0", "--label", "team=no way"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Invalid label: label 'team': the value 'no way'");
    const twice = nexus(["create", "lab0", "--label", "team=a", "--label", "team=b"]);
    expect(twice.stderr).toContain("label 'team' is given twice");
  });

  test("create --label stores them; list, status and --json show them; list -l selects", () => {
    const r = nexus(["create", "lab1", "--label", "team=web", "--label", "example.com/tier=api", "--label", "gpu="]);
    if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`);
    const list = nexus(["list"]);
    expect(list.stdout).toContain("LABELS");
    expect(list.stdout).toContain("team=web,example.com/tier=api,gpu=");
    const status = nexus(["status", "lab1"]);
    expect(status.stdout).toMatch(/labels\s+team=web,example.com\/tier=api,gpu=/);
    const json = JSON.parse(nexus(["status", "lab1", "--json"]).stdout) as { labels: Record<string, string> };
    expect(json.labels).toEqual({ team: "web", "example.com/tier": "api", gpu: "" });
    const names = (sel: string) => (JSON.parse(nexus(["list", "--json", "-l", sel]).stdout) as { workspaces: Array<{ name: string; labels: Record<string, string> }> }).workspaces.map((w) => w.name);
    expect(names("team=web")).toEqual(["lab1"]);
    expect(names("team in (db,api)")).toEqual([]);
    expect(names("gpu,example.com/tier notin (db)")).toEqual(["lab1"]);
    expect(names("!gpu")).toEqual([]);
    const bad = nexus(["list", "--label-selector", "team in web"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Invalid label_selector 'team in web': expected '(' after in/notin at position 9, found 'web'");
  }, 900_000);

  test("gRPC: the Workspace carries labels; ListWorkspaces filters by label_selector; a bad one is INVALID_ARGUMENT", async () => {
    client = new Client(`unix://${join(home, "grpc.sock")}`, grpc.credentials.createInsecure()) as typeof client;
    const all = await call("ListWorkspaces", {});
    expect(all.workspaces.map((w: any) => [w.name, w.labels])).toEqual([["lab1", { team: "web", "example.com/tier": "api", gpu: "" }]]);
    expect((await call("ListWorkspaces", { labelSelector: "team==web" })).workspaces.map((w: any) => w.name)).toEqual(["lab1"]);
    expect((await call("ListWorkspaces", { labelSelector: "team!=web" })).workspaces).toEqual([]);
    const err = await call("ListWorkspaces", { labelSelector: "team=" + "x".repeat(64) }).then(() => undefined, (e: grpc.ServiceError) => e);
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fromGrpcError(err!).message).toContain("the value must be at most 63 characters");
    const created = await call("CreateWorkspace", { name: "lab-bad", repositoryPath: repo, labels: { "-x": "y" } }).then(() => undefined, (e: grpc.ServiceError) => e);
    expect(created?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(fromGrpcError(created!).message).toContain("label key '-x'");
  });
});
