// A workspace on a tcp:// engine with TLS through the compiled binary: `nexus engines`, create
// --engine, exec, ssh with the system client (through the daemon's listener and the exec relay),
// stop/start, destroy. The engine is a private dockerd on tcp://127.0.0.1 with --tlsverify and
// certificates made here (test/helpers/tls-certs.ts); nothing is mocked.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { instanceId, LABELS } from "../../src/docker/labels.ts";
import { removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { nexusRunner, requireNexusBin } from "../helpers/cli.ts";
import { PrivateDockerd, privateDockerdUnavailable } from "../helpers/private-dockerd.ts";
import { makeTlsFiles } from "../helpers/tls-certs.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const why = privateDockerdUnavailable();
const root = tempDir("tcp-e2e");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# over tls\n" });
const nexus = nexusRunner({ home, cwd: repo });

describe.skipIf(why !== undefined)("a tcp:// engine with TLS, end to end", () => {
  let engine: PrivateDockerd;

  beforeAll(async () => {
    requireNexusBin();
    const tls = makeTlsFiles(join(root.path, "tls"));
    engine = await PrivateDockerd.start({ tcp: { ca: tls.ca, cert: tls.serverCert, key: tls.serverKey } });
    mkdirSync(home, { recursive: true, mode: 0o700 });
    writeFileSync(join(home, "config.yaml"), `engines:\n  tcpbox:\n    host: "${engine.tcpHost}"\n    tls: { ca: ${tls.ca}, cert: ${tls.clientCert}, key: ${tls.clientKey} }\n`);
  }, 600_000);

  afterAll(async () => {
    nexus(["destroy", "tw", "--force"]);
    nexus(["daemon", "stop"]);
    removeLeftovers(home);
    await engine?.stop();
    await root[Symbol.asyncDispose]();
  }, 600_000);

  const ok = (args: string[]) => {
    const r = nexus(args);
    if (r.code !== 0) throw new Error(`nexus ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };

  test("nexus engines lists it: reachable, remote, its version", () => {
    const engines = (JSON.parse(ok(["engines", "--json"])) as { engines: Array<{ name: string; reachable: boolean; remote: boolean; version: string | null }> }).engines;
    expect(engines.find((e) => e.name === "tcpbox")).toMatchObject({ reachable: true, remote: true, version: engine.docker("version", "--format", "{{.Server.Version}}") });
    expect(ok(["engines"])).toMatch(/tcpbox\s+tcp:\/\/127\.0\.0\.1:\d+\s+remote\s+docker /);
  }, 120_000);

  test("create --engine, exec, and ssh nexus-<name> with the system client", () => {
    ok(["create", "tw", "--engine", "tcpbox"]);
    expect(ok(["exec", "tw", "--", "cat", "/workspace/README.md"])).toBe("# over tls\n");
    const ssh = spawnSync("ssh", ["-F", join(home, "ssh_config"), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "nexus-tw", "cat /workspace/README.md"], { encoding: "utf8", timeout: 120_000 });
    expect(ssh.stderr).not.toContain("Permission denied");
    expect(ssh.stdout).toBe("# over tls\n");
    expect(engine.docker("ps", "-q", "--filter", `label=${LABELS.instance}=${instanceId(home)}`)).not.toBe("");
  }, 900_000);

  test("stop and start: exec works again", () => {
    ok(["stop", "tw"]);
    ok(["start", "tw"]);
    expect(ok(["exec", "tw", "--", "sh", "-c", "echo again"])).toBe("again\n");
  }, 600_000);

  test("destroy leaves nothing of it on the engine", () => {
    ok(["destroy", "tw", "--force"]);
    expect(engine.docker("ps", "-aq", "--filter", `label=${LABELS.instance}=${instanceId(home)}`)).toBe("");
    expect(engine.docker("volume", "ls", "-q", "--filter", `label=${LABELS.instance}=${instanceId(home)}`)).toBe("");
  }, 600_000);
});
