// An ssh:// engine's connection has sshd's side of its socket TCP_NODELAY although it carries
// forwards only (the Docker socket, workspaces' ports): ssh-link.ts runs a no-op session first, as
// ssh/connect.ts does for a workspace's pooled connections (it says why). Seen from sshd itself: at
// LogLevel DEBUG2 it logs "fd N setting TCP_NODELAY" where it sets it (misc.c set_nodelay), so every
// connection it accepted has that line: remote-engine.sh's own check (`ssh … true`) and the engine's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { EngineDefinition } from "../../src/config/engines.ts";
import { DockerEngine } from "../../src/docker/engine.ts";
import { EngineRegistry } from "../../src/docker/engines.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { remoteEngineUnavailable, startRemoteEngine, type RemoteEngineDouble } from "../helpers/remote-engine.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const why = remoteEngineUnavailable();
const root = tempDir("remote-nodelay");
let remote: RemoteEngineDouble;
let registry: EngineRegistry | undefined;
const warnings: string[] = [];

const count = (text: string, re: RegExp) => text.match(re)?.length ?? 0;

describe.skipIf(why !== undefined)("a remote engine's SSH connection and Nagle", () => {
  beforeAll(() => {
    remote = startRemoteEngine({ sshdLogLevel: "DEBUG2" });
  }, 600_000);

  afterAll(async () => {
    registry?.close();
    await remote?.[Symbol.asyncDispose]();
    await root[Symbol.asyncDispose]();
  }, 600_000);

  test("sshd sets TCP_NODELAY on the connection that carries the Docker API", async () => {
    const engines = { remote: { host: remote.host, identity_file: remote.identityFile, known_hosts_file: remote.knownHostsFile, socket: remote.socket } as EngineDefinition };
    registry = new EngineRegistry({ engines, local: new DockerEngine({ env: process.env }), home: join(root.path, "home"), userHome: root.path, env: {}, log: { warn: (m) => void warnings.push(m) } });
    // Over the relay: a streamlocal channel of the link's connection, the only kind the API uses.
    expect((await registry.get("remote").ping()).version).toBe(remote.docker("version", "--format", "{{.Server.Version}}"));
    const seen = await until(
      "as many TCP_NODELAY lines in sshd's log as connections it accepted",
      () => {
        const log = remote.sshdLog();
        return { accepted: count(log, /Accepted publickey for /g), nodelay: count(log, /fd \d+ (setting|is) TCP_NODELAY/g) };
      },
      (c) => c.accepted >= 2 && c.nodelay === c.accepted,
      { timeoutMs: 30_000 },
    );
    // remote-engine.sh's check and the engine's connection; nothing went wrong on the way.
    expect(seen.accepted).toBe(2);
    expect(warnings).toEqual([]);
  }, 120_000);
});
