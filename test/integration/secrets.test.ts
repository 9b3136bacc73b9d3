// Secrets against the real engine and a real sshd: read on the host (a file, a dotenv file, a real
// command), they reach exec, hooks and services through the login, and are nowhere in the container's
// configuration (docker inspect), a commit of it, or a checkpoint's image and home archive.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { instanceId } from "../../src/docker/labels.ts";
import { docker, engineAnswers, removeCheckpointImages, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const root = tempDir("secrets");
const home = join(root.path, "nexus");
const secretsDir = join(root.path, "host-secrets");
// Distinct, greppable values: none of them may show up in the engine's view of the container.
const DB = `db-${process.pid}-Zq7`;
const FROM_ENV = `envfile-${process.pid}-Kx2`;
const NPM = `npm-${process.pid}-Wv9`;
const sha = (s: string) => new Bun.CryptoHasher("sha256").update(`${s}\n`).digest("hex");

mkdirSync(secretsDir, { recursive: true });
writeFileSync(join(secretsDir, "db.txt"), `${DB}\n`);
writeFileSync(join(secretsDir, "app.env"), `# app\nFROM_ENV_FILE="${FROM_ENV}"\n`);
writeFileSync(join(secretsDir, "pass"), `#!/bin/sh\n[ "$2" = npm ] && echo "${NPM}" && exit 0\nexit 1\n`);
chmodSync(join(secretsDir, "pass"), 0o755);
const CONFIG = `secrets:
  env_files: [${secretsDir}/app.env]
  named:
    DB_PASSWORD:
      source: file
      path: ${secretsDir}/db.txt
    NPM_TOKEN:
      source: command
      command: ${secretsDir}/pass show npm
`;
const repo = makeRepo(join(root.path, "repo"), {
  "README.md": "# fixture\n",
  // Hooks and services see the secrets; they leave only a hash behind (the container's disk must not hold the value).
  ".nexus/workspace.yaml": [
    "hooks:",
    "  post-start: echo \"$DB_PASSWORD\" | sha256sum > /tmp/hook-saw",
    "services:",
    "  svc:",
    "    command: echo \"$NPM_TOKEN\" | sha256sum > /tmp/svc-saw; exec sleep 100000",
    "",
  ].join("\n"),
});
let s: Services;

const run = async (script: string) => {
  const r = await s.workspaces.execCollect("sec", { command: "sh", args: ["-c", script] });
  if (r.exitCode !== 0) throw new Error(`'${script}' exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
};
const holdsNoSecret = (text: string) => {
  for (const v of [DB, FROM_ENV, NPM]) expect(text).not.toContain(v);
};
/** Greps an image's filesystem (outside the kernel's /proc and /sys) for the values: exit 1 means none found. */
const imageHoldsNoSecret = (image: string) => {
  const r = Bun.spawnSync(["docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", `grep -rqsF -e '${DB}' -e '${FROM_ENV}' -e '${NPM}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev; echo $?`]);
  expect(r.stdout.toString().trim()).toBe("1");
};

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home, CONFIG);
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "sec", path: repo });
}, 900_000);

afterAll(async () => {
  s?.workspaces.shutdown();
  removeLeftovers(home);
  removeCheckpointImages(home);
  Bun.spawnSync(["docker", "rmi", "-f", `nexus-secrets-test:${process.pid}`]);
  await root[Symbol.asyncDispose]();
});

describe("secrets reach the workspace", () => {
  test("exec sees every secret: a file, a dotenv file, a command's output", async () => {
    expect(await run('printf "%s|%s|%s" "$DB_PASSWORD" "$FROM_ENV_FILE" "$NPM_TOKEN"')).toBe(`${DB}|${FROM_ENV}|${NPM}`);
  }, 120_000);

  test("a hook and a service saw them too", async () => {
    expect((await run("cat /tmp/hook-saw")).split(" ")[0]).toBe(sha(DB));
    const saw = await until("the service wrote what it saw", () => run("cat /tmp/svc-saw 2>/dev/null || true"), Boolean, { intervalMs: 200 });
    expect(saw.split(" ")[0]).toBe(sha(NPM));
  }, 120_000);

  test("a session (what nexus console runs in) sees them", async () => {
    const view = await s.sessions.create({ workspace: "sec", kind: "command", argv: ["sh", "-c", 'printf "%s\\n" "$FROM_ENV_FILE" | sha256sum'] });
    const text = await until("the session prints the secret's hash", async () => (await s.sessions.logs(view.id, 20)).lines.join("\n"), (t) => t.includes(sha(FROM_ENV)), { intervalMs: 200 });
    expect(text).toContain(sha(FROM_ENV));
  }, 120_000);

  test("on a tmpfs, mode 0600, owned by the workspace user", async () => {
    expect(await run("stat -c '%a %u' /run/nexus/secrets/env")).toBe(`600 ${(await run("id -u")).trim()}\n`);
    expect(await run("grep ' /run/nexus/secrets ' /proc/mounts | cut -d' ' -f3")).toBe("tmpfs\n");
  }, 60_000);

  test("a changed secret is read again at the next start", async () => {
    writeFileSync(join(secretsDir, "db.txt"), `${DB}-2\n`);
    await s.workspaces.stop("sec");
    await s.workspaces.start("sec");
    expect(await run('printf %s "$DB_PASSWORD"')).toBe(`${DB}-2`);
    writeFileSync(join(secretsDir, "db.txt"), `${DB}\n`);
  }, 300_000);
});

describe("secrets are never in the container's configuration or images", () => {
  test("docker inspect of the container holds none of them", async () => {
    const id = s.store.findByName("sec")!.containerId!;
    const inspect = docker("inspect", id);
    holdsNoSecret(inspect);
    expect(JSON.parse(inspect)[0].HostConfig.Tmpfs["/run/nexus/secrets"]).toContain("mode=0700");
  }, 60_000);

  test("docker commit of the running container holds none of them", async () => {
    const id = s.store.findByName("sec")!.containerId!;
    const image = `nexus-secrets-test:${process.pid}`;
    docker("commit", id, image);
    holdsNoSecret(docker("image", "inspect", image));
    imageHoldsNoSecret(image);
  }, 300_000);

  test("a checkpoint's image and home archive hold none of them", async () => {
    const cp = await s.checkpoints.create("sec", { name: "with-secrets" });
    const record = s.checkpoints.resolve(cp.id);
    holdsNoSecret(docker("image", "inspect", record.container!.image));
    imageHoldsNoSecret(record.container!.image);
    holdsNoSecret(readFileSync(record.home!.file).toString("latin1"));
  }, 300_000);
});

describe("a secret that cannot be read", () => {
  test("stops create with INVALID_ARGUMENT naming it, and leaves nothing behind", async () => {
    const other = join(root.path, "nexus-bad");
    const bad = serviceGraph(other, `secrets:\n  named:\n    MISSING_ONE:\n      source: file\n      path: ${secretsDir}/nope.txt\n`);
    try {
      const e = await expectError(bad.workspaces.create({ name: "bad", path: repo }), "INVALID_ARGUMENT");
      expect(e.message).toContain("Secret MISSING_ONE");
      expect(e.details).toMatchObject({ secret: "MISSING_ONE" });
      expect(bad.store.findByName("bad")).toBeUndefined();
      expect(docker("ps", "-aq", "--filter", `label=dev.nexus.instance=${instanceId(other)}`)).toBe("");
    } finally {
      bad.workspaces.shutdown();
      removeLeftovers(other);
    }
  }, 300_000);
});
