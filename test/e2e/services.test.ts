// Services and hooks through the compiled binary: the CLI (`services`, `services logs`, `hook`,
// `start --skip-services`) and gRPC (ListServices, GetServiceLogs, RestartService, RunHook,
// StartWorkspace, WaitForWorkspace healthy), with a real engine and a temporary NEXUS_HOME.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { workspaceServiceDefinition } from "../../src/api/grpc/server.ts";
import { BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E } from "../helpers/cli.ts";

slowTests();

const root = tempDir("e2e-services");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "app"), {
  ".nexus/workspace.yaml": [
    "hooks:",
    "  health-check: curl -fsS localhost:8000/health.txt",
    "services:",
    "  web:",
    "    command: python3 -m http.server 8000",
    "    port: 8000",
    "    health: { http: /health.txt, interval: 1s }",
    "",
  ].join("\n"),
  "health.txt": "ok\n",
});
const Client = grpc.makeGenericClientConstructor(workspaceServiceDefinition(), "WorkspaceService");
let daemon: TestDaemon;
let client: grpc.Client & Record<string, any>;

const nexus = nexusRunner({ home, cwd: repo });

function call<T = any>(method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method](req, new grpc.Metadata(), { deadline: Date.now() + 300_000 }, (err: unknown, res: T) => (err ? reject(err) : resolve(res))));
}

beforeAll(async () => {
  requireE2E();
  daemon = await startDaemon(home);
  client = new Client(`unix://${join(home, "grpc.sock")}`, grpc.credentials.createInsecure()) as never;
});

afterAll(async () => {
  client?.close();
  await daemon?.stop();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("the CLI", () => {
  test("create waits until the service is healthy and shows its URL", () => {
    const r = nexus(["create", "app1"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/service\s+web healthy http:\/\/localhost:\d+/);
  }, 300_000);

  test("services lists them; --json gives {workspaceId, services}", () => {
    const text = nexus(["services", "app1"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^NAME\s+STATUS/);
    expect(text.stdout).toMatch(/web\s+healthy\s+8000\s+http:\/\/localhost:\d+\s+\/health\.txt/);
    const json = JSON.parse(nexus(["services", "app1", "--json"]).stdout);
    expect(json.services[0]).toMatchObject({ name: "web", status: "healthy", containerPort: 8000, healthCheck: "/health.txt" });
  });

  test("services logs prints the last N lines; an unknown service exits 4 with NOT_FOUND", () => {
    const r = nexus(["services", "logs", "app1", "web", "--tail", "2"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(2);
    const bad = nexus(["services", "logs", "app1", "db", "--json"]);
    expect(bad.code).toBe(4);
    expect(JSON.parse(bad.stdout).error.code).toBe("NOT_FOUND");
  });

  test("hook runs one hook and exits with its code", () => {
    const r = nexus(["hook", "app1", "health-check"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("ok");
    expect(nexus(["hook", "app1", "pre-start"]).code).toBe(4); // not defined in this project
  });

  test("start --skip-services leaves services stopped; services restart brings one up", () => {
    expect(nexus(["stop", "app1", "--timeout", "5"]).code).toBe(0);
    const started = nexus(["start", "app1", "--skip-services"]);
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/service\s+web stopped/);
    const restarted = nexus(["services", "restart", "app1", "web"]);
    expect(restarted.code).toBe(0);
    expect(restarted.stdout).toContain("Restarted web: healthy");
  }, 120_000);
});

describe("plain ssh", () => {
  test("ssh_config connects through 'nexus ssh-proxy', which resumes a paused workspace first", async () => {
    expect(readFileSync(join(home, "ssh_config"), "utf8")).toContain(`ProxyCommand env NEXUS_HOME=${home} ${BIN} ssh-proxy app1 `);
    expect(nexus(["pause", "app1"]).code).toBe(0);
    const r = spawnSync("ssh", ["-F", join(home, "ssh_config"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "nexus-app1", "echo in-$(hostname)"], { encoding: "utf8", timeout: 60_000 });
    expect({ code: r.status, out: r.stdout.trim() }).toEqual({ code: 0, out: "in-app1" });
    expect(JSON.parse(nexus(["status", "app1", "--json"]).stdout).status).toBe("running");
  }, 90_000);

  test("ssh-proxy answers bad arguments with its usage", () => {
    const bad = nexus(["ssh-proxy", "app1"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("usage: nexus ssh-proxy");
  });
});

describe("gRPC", () => {
  test("ListServices, GetServiceLogs, RestartService, RunHook", async () => {
    const list = await call("ListServices", { workspaceId: "app1" });
    expect(list.services[0]).toMatchObject({ name: "web", status: "healthy", containerPort: 8000, healthCheckPath: "/health.txt" });
    expect(list.services[0].hostPort).toBeGreaterThan(0);
    const entries: any[] = await new Promise((resolve, reject) => {
      const got: any[] = [];
      const s = client.GetServiceLogs({ workspaceId: "app1", serviceName: "web", tail: 3 });
      s.on("data", (m: any) => got.push(m));
      s.on("error", reject);
      s.on("end", () => resolve(got));
    });
    expect(entries).toHaveLength(3);
    expect(entries[0]).toMatchObject({ serviceName: "web" });
    expect(entries[0].timestamp).toMatch(/^\d{4}-/);
    const op = await call("RestartService", { workspaceId: "app1", serviceName: "web" });
    expect(op.message).toContain("web is healthy");
    const hook = await call("RunHook", { workspaceId: "app1", hook: "health-check" });
    expect(hook).toMatchObject({ hook: "health-check", exitCode: 0, output: "ok" });
  });

  test("StartWorkspace (blocking) reports services; WaitForWorkspace healthy is met", async () => {
    await call("StopWorkspace", { workspaceId: "app1", timeoutSeconds: 5 });
    const started = await call("StartWorkspace", { workspaceId: "app1", blocking: true, timeoutSeconds: 60 });
    expect(started.services).toEqual([expect.objectContaining({ serviceName: "web", status: "healthy" })]);
    const waited = await call("WaitForWorkspace", { workspaceId: "app1", condition: "healthy", timeoutSeconds: 30 });
    expect(waited.conditionMet).toBe(true);
  }, 120_000);
});
