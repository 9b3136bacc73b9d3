// A workspace on a tcp:// engine with TLS: a private dockerd (scripts/private-dockerd.sh) that also
// listens on tcp://127.0.0.1:<port> with --tlsverify and certificates made here with openssl. Its
// Docker API is the only way in: the workspace's sshd and ports are reached through exec relays, and
// nothing is published on the engine host. Nothing is mocked.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { instanceId, LABELS } from "../../src/docker/labels.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { PrivateDockerd, privateDockerdUnavailable } from "../helpers/private-dockerd.ts";
import { makeCa, makeTlsFiles, type TlsFiles } from "../helpers/tls-certs.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const why = privateDockerdUnavailable();
const root = tempDir("tcp-engine");

/** Waits until `ok` holds; a probe that throws (a relay or sync still starting) is one more "not yet". */
const waitUntil = (what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 120_000) => until(what, ok, Boolean, { timeoutMs, retryErrors: true });

function engineYaml(name: string, host: string, tls: { ca: string; cert: string; key: string }): string {
  return `engines:\n  ${name}:\n    host: "${host}"\n    tls: { ca: ${tls.ca}, cert: ${tls.cert}, key: ${tls.key} }\n`;
}

describe.skipIf(why !== undefined)("a workspace on a tcp:// engine with TLS", () => {
  let engine: PrivateDockerd;
  let tls: TlsFiles;
  let s: Services;
  let home: string;
  const watching = new AbortController();
  const repo = makeRepo(join(root.path, "repo"), { "README.md": "# tcp\n", "src/app.ts": "export {};\n", ".nexus/workspace.yaml": "ports: [8000]\n" });

  beforeAll(async () => {
    tls = makeTlsFiles(join(root.path, "tls"));
    engine = await PrivateDockerd.start({ tcp: { ca: tls.ca, cert: tls.serverCert, key: tls.serverKey } });
    home = join(root.path, "nexus");
    s = serviceGraph(home, engineYaml("tcpbox", engine.tcpHost!, { ca: tls.ca, cert: tls.clientCert, key: tls.clientKey }));
    await s.workspaces.reconcile();
    s.workspaces.watchEngine(watching.signal);
  }, 600_000);

  afterAll(async () => {
    watching.abort();
    s?.workspaces.shutdown();
    await s?.sync.manager.shutdown();
    await engine?.stop();
    await root[Symbol.asyncDispose]();
  }, 600_000);

  const inside = async (script: string) => (await s.workspaces.execCollect("tls", { command: "sh", args: ["-c", script] })).stdout;
  const ours = (what: "ps" | "volume") => engine.docker(...(what === "ps" ? ["ps", "-aq"] : ["volume", "ls", "-q"]), "--filter", `label=${LABELS.instance}=${instanceId(home)}`);

  test("nexus engines: the tcp:// engine is reachable, remote, with its version and no workspaces yet", async () => {
    const view = (await s.workspaces.engines()).find((e) => e.name === "tcpbox")!;
    expect(view).toMatchObject({ host: engine.tcpHost, remote: true, reachable: true, workspaces: 0 });
    expect(view.version).toBe(engine.docker("version", "--format", "{{.Server.Version}}"));
  }, 120_000);

  test("a wrong CA is refused: BACKEND_UNAVAILABLE with a suggestion, in nexus engines and at create, and nothing is left behind", async () => {
    const wrong = makeCa(join(root.path, "wrong"), "not the engine's CA");
    const h2 = join(root.path, "nexus-wrong");
    const s2 = serviceGraph(h2, engineYaml("tcpbox", engine.tcpHost!, { ca: wrong.ca, cert: tls.clientCert, key: tls.clientKey }));
    try {
      const view = (await s2.workspaces.engines()).find((e) => e.name === "tcpbox")!;
      expect(view).toMatchObject({ reachable: false, version: null });
      expect(view.error?.code).toBe("BACKEND_UNAVAILABLE");
      expect(view.error?.message).toContain("TLS");
      expect(view.error?.suggestion).toContain("tls.ca");
      const repo2 = makeRepo(join(root.path, "repo-wrong"));
      const e = await expectError(s2.workspaces.create({ name: "nope", path: repo2, engine: "tcpbox" }), "BACKEND_UNAVAILABLE");
      expect(e.suggestion).toContain("tls.ca");
      expect(s2.workspaces.list()).toEqual([]);
      expect(existsSync(join(repo2, ".worktree", "nope"))).toBe(false);
      expect(engine.docker("ps", "-aq", "--filter", `label=${LABELS.instance}=${instanceId(h2)}`)).toBe("");
      expect(engine.docker("volume", "ls", "-q", "--filter", `label=${LABELS.instance}=${instanceId(h2)}`)).toBe("");
    } finally {
      s2.workspaces.shutdown();
    }
  }, 300_000);

  test("create --engine: the worktree's files are inside; nothing is published on the engine host; sync is unison", async () => {
    await s.workspaces.create({ name: "tls", path: repo, engine: "tcpbox" });
    expect(await inside("cat /workspace/src/app.ts")).toBe("export {};\n");
    const r = s.workspaces.resolve("tls");
    expect(r.engine).toBe("tcpbox");
    const info = JSON.parse(engine.docker("inspect", r.containerId!))[0];
    expect(info.HostConfig.PortBindings ?? {}).toEqual({});
    expect(Object.values(info.NetworkSettings.Ports ?? {}).filter((b) => b !== null)).toEqual([]);
    // Nothing of this host is mounted into it.
    expect((info.Mounts as Array<{ Type: string }>).filter((m) => m.Type === "bind")).toEqual([]);
    expect(s.sync.status("tls")).toMatchObject({ provider: "unison", status: "syncing", error: null });
    expect((await s.workspaces.engines()).find((e) => e.name === "tcpbox")!.workspaces).toBe(1);
  }, 900_000);

  test("an edit here is visible inside, an edit inside reaches the worktree", async () => {
    const worktree = s.workspaces.resolve("tls").mountPath;
    writeFileSync(join(worktree, "src/app.ts"), "export const here = 1;\n");
    await waitUntil("the host edit inside", async () => (await inside("cat /workspace/src/app.ts")) === "export const here = 1;\n");
    await inside("echo 'made inside' > /workspace/inside.txt");
    await waitUntil("the inside edit here", () => existsSync(join(worktree, "inside.txt")) && readFileSync(join(worktree, "inside.txt"), "utf8") === "made inside\n");
    expect((await s.sync.flush("tls")).flushed).toBe(true);
  }, 300_000);

  test("a published port of the project is served here on 127.0.0.1, relayed through the engine API", async () => {
    const port = s.workspaces.resolve("tls").ports.services.find((p) => p.containerPort === 8000)!.hostPort;
    await inside("cd /workspace && (setsid python3 -m http.server 8000 --bind 127.0.0.1 </dev/null >/dev/null 2>&1 &)");
    await waitUntil("the server answers through the relay", async () => (await fetch(`http://127.0.0.1:${port}/README.md`)).ok);
    expect(await (await fetch(`http://127.0.0.1:${port}/README.md`)).text()).toBe("# tcp\n");
  }, 300_000);

  test("stop, then start: it comes back, exec works, and what was written while stopped arrives", async () => {
    const worktree = s.workspaces.resolve("tls").mountPath;
    await s.workspaces.stop("tls");
    expect(s.workspaces.resolve("tls").status).toBe("stopped");
    writeFileSync(join(worktree, "while-stopped.txt"), "written while stopped\n");
    await s.workspaces.start("tls");
    expect(s.workspaces.resolve("tls").status).toBe("running");
    expect(await inside("cat /workspace/while-stopped.txt")).toBe("written while stopped\n");
  }, 600_000);

  test("destroy removes its container and volumes on the engine and its listeners here", async () => {
    const r = s.workspaces.resolve("tls");
    await s.workspaces.destroy("tls", { force: true });
    expect(ours("ps")).toBe("");
    expect(ours("volume")).toBe("");
    expect(await fetch(`http://127.0.0.1:${r.ports.ssh}/`).then(() => "answered", () => "refused")).toBe("refused");
  }, 600_000);
});
