// Workspaces' engine on another machine, reached over SSH: the transport, the host key check, ports
// through the connection, and what the core does with an engine that is away. The "other machine" is
// scripts/remote-engine.sh (a private dockerd and a real sshd on 127.0.0.1): nothing is mocked.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DockerEngine } from "../../src/docker/engine.ts";
import { EngineRegistry } from "../../src/docker/engines.ts";
import type { RemoteEngine } from "../../src/docker/remote/remote-engine.ts";
import type { EngineDefinition } from "../../src/config/engines.ts";
import { instanceId, LABELS } from "../../src/docker/labels.ts";
import { makeRecord } from "../helpers/records.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { remoteEngineUnavailable, startRemoteEngine, type RemoteEngineDouble } from "../helpers/remote-engine.ts";
import type { Services } from "../../src/daemon/services.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const why = remoteEngineUnavailable();
const root = tempDir("remote");
let remote: RemoteEngineDouble;
const registries: EngineRegistry[] = [];

function registry(def: Partial<EngineDefinition> = {}): EngineRegistry {
  const engines = {
    remote: { host: remote.host, identity_file: remote.identityFile, known_hosts_file: remote.knownHostsFile, socket: remote.socket, ...def } as EngineDefinition,
  };
  const r = new EngineRegistry({ engines, local: new DockerEngine({ env: process.env }), home: join(root.path, `home-${registries.length}`), userHome: root.path, env: {} });
  registries.push(r);
  return r;
}

describe.skipIf(why !== undefined)("a remote engine over SSH", () => {
  beforeAll(() => {
    remote = startRemoteEngine();
  }, 600_000);

  afterAll(async () => {
    for (const r of registries) r.close();
    await remote?.[Symbol.asyncDispose]();
    await root[Symbol.asyncDispose]();
  }, 600_000);

  test("the Docker API answers through the pooled connection's forwarded socket", async () => {
    const engine = registry().get("remote");
    const info = await engine.ping();
    expect(info.version).toBe(remote.docker("version", "--format", "{{.Server.Version}}"));
    expect(engine.address).toBe(remote.host);
  }, 120_000);

  test("an unknown or a changed host key is BACKEND_UNAVAILABLE with a suggestion, never accepted", async () => {
    const empty = join(root.path, "empty_known_hosts");
    writeFileSync(empty, "");
    const unknown = await expectError(registry({ known_hosts_file: empty }).get("remote").ping(), "BACKEND_UNAVAILABLE");
    expect(unknown.message).toContain("host key was refused");
    expect(unknown.suggestion).toContain("ssh-keyscan");
    expect(unknown.details?.hostKey).toBe("unknown");
    const other = join(root.path, "other_known_hosts");
    writeFileSync(other, `[127.0.0.1]:${remote.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBYSxDW/tO3WIhKOMm3p9EQ5j5V4fuPoVkjMHCiRmszp\n`);
    const changed = await expectError(registry({ known_hosts_file: other }).get("remote").ping(), "BACKEND_UNAVAILABLE");
    expect(changed.details?.hostKey).toBe("mismatch");
    expect(changed.suggestion).toContain("ssh-keygen -R");
  }, 120_000);

  test("an engine nobody answers for is BACKEND_UNAVAILABLE with a suggestion", async () => {
    const e = await expectError(registry({ host: "ssh://root@127.0.0.1:9" }).get("remote").ping(), "BACKEND_UNAVAILABLE");
    expect(e.message).toContain("Engine 'remote'");
    expect(e.suggestion).toBeTruthy();
  }, 120_000);

  test("a container's published port stays on the remote's loopback and is reached here through the connection; nothing of this host is mounted", async () => {
    const engine = registry().get("remote") as RemoteEngine;
    // The workspace image: built there, or (no base image there, no registry) copied from here.
    const image = await engine.ensureWorkspaceImage("debian:bookworm-slim", () => {});
    expect(remote.docker("image", "inspect", image, "--format", "{{.Id}}")).toStartWith("sha256:");
    const labels = { [LABELS.instance]: "remote-engine-test", "dev.nexus.test": "remote-engine" };
    const base = { image, labels, env: [], publish: [], mounts: [], memoryBytes: 256 * 1024 ** 2 };
    await expectError(engine.createContainer({ ...base, mounts: [{ type: "bind", source: root.path, target: "/x" }] }), "INVALID_ARGUMENT");

    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
    const localPort = server.port!;
    server.stop(true);
    const id = await engine.createContainer({ ...base, entrypoint: ["python3", "-m", "http.server", "8000", "--bind", "0.0.0.0"], workingDir: "/etc", publish: [{ containerPort: 8000, hostPort: localPort }] });
    try {
      await engine.start(id);
      const bound = JSON.parse(remote.docker("inspect", id))[0].NetworkSettings.Ports["8000/tcp"][0];
      expect(bound.HostIp).toBe("127.0.0.1");
      // The remote engine picked its own port; ours is only a listener of this process.
      expect(Number(bound.HostPort)).not.toBe(localPort);
      await until("the server answers through the connection", async () => (await fetch(`http://127.0.0.1:${localPort}/hostname`)).ok, Boolean, { retryErrors: true });
      // A restart moves the remote port; the listener follows.
      await engine.stop(id, 5);
      await engine.start(id);
      await until("it answers again after a restart", async () => (await fetch(`http://127.0.0.1:${localPort}/hostname`)).ok, Boolean, { retryErrors: true });
    } finally {
      await engine.removeContainer(id);
    }
    // Removed: its listener here is gone too.
    expect(await fetch(`http://127.0.0.1:${localPort}/`).then(() => "answered", () => "refused")).toBe("refused");
  }, 600_000);

  describe("the core", () => {
    let s: Services;
    let home: string;

    beforeAll(async () => {
      home = join(root.path, "nexus");
      s = serviceGraph(home, remote.configYaml);
      await s.workspaces.reconcile();
    }, 120_000);

    afterAll(() => s?.workspaces.shutdown());

    test("nexus engines: local and the remote one, reachable, with their versions and workspace counts", async () => {
      const engines = await s.workspaces.engines();
      expect(engines.map((e) => e.name)).toEqual(["local", "remote"]);
      const r = engines.find((e) => e.name === "remote")!;
      expect(r).toMatchObject({ host: remote.host, remote: true, reachable: true, workspaces: 0, default: false });
      expect(engines[0]!.default).toBe(true);
    }, 120_000);

    test("an unknown engine is INVALID_ARGUMENT before anything is made", async () => {
      const repo = makeRepo(join(root.path, "repo-unknown"));
      const e = await expectError(s.workspaces.create({ name: "nowhere", path: repo, engine: "nosuch" }), "INVALID_ARGUMENT");
      expect(e.suggestion).toContain("nexus engines");
      expect(s.workspaces.list()).toEqual([]);
    }, 120_000);

    test("without a sync provider installed, remote create is SYNC_PROVIDER_NOT_FOUND and leaves nothing behind", async () => {
      const repo = makeRepo(join(root.path, "repo-remote"));
      // sync.provider: mutagen, which this machine does not have (unison would be there).
      const s3 = serviceGraph(home, `${remote.configYaml}\nsync:\n  provider: mutagen\n`);
      const e = await expectError(s3.workspaces.create({ name: "big", path: repo, engine: "remote" }), "SYNC_PROVIDER_NOT_FOUND").finally(() => s3.workspaces.shutdown());
      expect(e.suggestion).toContain("mutagen");
      expect(s.workspaces.list()).toEqual([]);
      expect(existsSync(join(repo, ".worktree", "big"))).toBe(false);
      expect(remote.docker("ps", "-aq", "--filter", `label=${LABELS.instance}=${instanceId(home)}`)).toBe("");
      expect(remote.docker("volume", "ls", "-q", "--filter", `label=${LABELS.instance}=${instanceId(home)}`)).toBe("");
    }, 120_000);

    test("an engine away leaves its workspaces as recorded, marked unreachable, and the local ones alone", async () => {
      const h2 = join(root.path, "nexus-away");
      const s2 = serviceGraph(h2, `engines:\n  away:\n    host: "ssh://root@127.0.0.1:9"\n    identity_file: ${remote.identityFile}\n    known_hosts_file: ${remote.knownHostsFile}\n`);
      try {
        s2.store.save(makeRecord({ name: "faraway", engine: "away", status: "running", containerId: "0123456789ab" }));
        await s2.workspaces.reconcile();
        const [view] = s2.workspaces.list();
        expect(view!.status).toBe("running");
        expect(view!.engine).toBe("away");
        expect(view!.error?.code).toBe("BACKEND_UNAVAILABLE");
        const engines = await s2.workspaces.engines();
        expect(engines.find((e) => e.name === "away")).toMatchObject({ reachable: false, workspaces: 1 });
        expect(engines.find((e) => e.name === "local")).toMatchObject({ reachable: true });
        await expectError(s2.workspaces.stop("faraway"), "BACKEND_UNAVAILABLE");
      } finally {
        s2.workspaces.shutdown();
      }
    }, 120_000);
  });
});
