// devcontainer.json against the real engine: a Dockerfile build (context, args, target) with a local
// feature, offline; container and remote environments; ports; runArgs and mounts; workspaceFolder; every
// lifecycle command, checked by the files they write inside the container; precedence; consent; errors.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import type { Services } from "../../src/daemon/services.ts";
import { docker, engineAnswers, leftovers, removeLeftovers } from "../helpers/docker.ts";
import { expectError, serviceGraph } from "../helpers/graph.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("devcontainer");
const home = join(root.path, "nexus");
let s: Services;

// The shape of a public Node/TypeScript project's file: comments, trailing commas, variables everywhere.
const DEVCONTAINER_JSON = `// Dev container for the integration test (JSONC: comments and trailing commas).
{
  "name": "integration",
  "build": {
    "dockerfile": "Dockerfile",
    "context": "..",
    "args": { "GREETING": "\${localEnv:DC_TEST_GREETING:hello}" },
    "target": "dev",
  },
  "features": {
    "./tools": { "flavour": "vanilla" },
  },
  "containerEnv": {
    "CONTAINER_ONLY": "c-value",
    "WS_FOLDER": "\${containerWorkspaceFolder}",
  },
  "remoteEnv": {
    "REMOTE_ONLY": "it's \\"quoted\\" $HOME {\\"json\\": [1]}",
    "PATH_PLUS": "\${containerEnv:PATH}:/opt/extra",
    "PRECEDENCE": "from devcontainer.json",
  },
  "forwardPorts": [3000, "localhost:5000"],
  "portsAttributes": { "3000": { "label": "Web App" } },
  "appPort": [8000],
  "runArgs": ["--cap-add=SYS_PTRACE", "--label", "team=dc-test", "--env", "RUNARG_ENV=yes"],
  "mounts": ["source=dc-cache-\${devcontainerId},target=/home/nexus/cache,type=volume"],
  "workspaceFolder": "/workspaces/\${localWorkspaceFolderBasename}",
  "initializeCommand": "echo \\"init $(basename \\"$PWD\\")\\" >> .init-marks",
  "onCreateCommand": "echo oncreate >> ~/marks; pwd > ~/oncreate-pwd",
  "updateContentCommand": ["sh", "-c", "echo update >> ~/marks"],
  "postCreateCommand": {
    "slow": "sleep 2; echo slow >> ~/marks-parallel",
    "fast": "echo fast >> ~/marks-parallel; printf '%s' \\"$REMOTE_ONLY\\" > ~/remote-env",
  },
  "postStartCommand": "echo start >> ~/marks",
  "postAttachCommand": "echo attach >> ~/marks",
  "waitFor": "postCreateCommand",
  "remoteUser": "vscode",
  "hostRequirements": { "cpus": 1, "memory": "64tb" },
  "customizations": { "vscode": { "extensions": ["dbaeumer.vscode-eslint"] } },
}
`;

const DOCKERFILE = `FROM debian:bookworm-slim AS base
RUN echo base > /stage
FROM base AS dev
ARG GREETING
RUN echo "$GREETING from dev" > /etc/greeting
COPY README.md /etc/readme-from-context
FROM base AS prod
RUN echo prod > /stage
`;

const repo = makeRepo(join(root.path, "app"), {
  "README.md": "# app\n",
  ".devcontainer/devcontainer.json": DEVCONTAINER_JSON,
  ".devcontainer/Dockerfile": DOCKERFILE,
  ".devcontainer/tools/devcontainer-feature.json": `{ "id": "tools", "version": "1.0.0", "options": { "flavour": { "type": "string", "default": "plain" }, "extra": { "type": "string", "default": "x" } }, "containerEnv": { "TOOLS_HOME": "/usr/local/share/tools" } }`,
  ".devcontainer/tools/install.sh": `#!/bin/sh\nset -e\nmkdir -p /usr/local/share/tools\necho "$FLAVOUR $EXTRA $_REMOTE_USER" > /usr/local/share/tools/flavour\n`,
  ".nexus/workspace.yaml": "env:\n  PRECEDENCE: from workspace.yaml\n",
  ".gitignore": ".init-marks\n",
});

const run = (name: string, script: string) => s.workspaces.execCollect(name, { command: "sh", args: ["-c", script] });
const out = async (name: string, script: string) => (await run(name, script)).stdout;
const inspect = (name: string) => JSON.parse(docker("inspect", s.store.findByName(name)!.containerId!))[0];
const progress: string[] = [];

beforeAll(async () => {
  if (!engineAnswers()) throw new Error("No Docker engine answers: run scripts/docker-up.sh (npm test does)");
  s = serviceGraph(home);
  await s.workspaces.reconcile();
  await s.workspaces.create({ name: "dc", path: repo }, (e) => progress.push(e.message));
}, 1_200_000);

afterAll(async () => {
  s?.workspaces.shutdown();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

describe("a Dockerfile-based devcontainer.json, offline", () => {
  test("build context, args and target; the local feature with its options", async () => {
    expect(await out("dc", "cat /etc/greeting /etc/readme-from-context /stage")).toBe("hello from dev\n# app\nbase\n");
    expect(await out("dc", "cat /usr/local/share/tools/flavour")).toBe("vanilla x root\n");
  });

  test("containerEnv is the container's; remoteEnv reaches commands only; values keep quotes and $", async () => {
    const env = (await out("dc", "env")).split("\n");
    expect(env).toContain("CONTAINER_ONLY=c-value");
    expect(env).toContain(`WS_FOLDER=/workspaces/${basename(s.store.findByName("dc")!.mountPath)}`);
    expect(env).toContain("RUNARG_ENV=yes");
    expect(env).toContain("TOOLS_HOME=/usr/local/share/tools");
    expect(await out("dc", `printf '%s' "$REMOTE_ONLY"`)).toBe(`it's "quoted" $HOME {"json": [1]}`);
    const pathPlus = await out("dc", `printf '%s' "$PATH_PLUS"`);
    expect(pathPlus).toMatch(/^\/.*\/usr\/bin.*:\/opt\/extra$/);
    expect(pathPlus).not.toContain("${containerEnv");
    // .nexus/workspace.yaml wins where both set a key.
    expect(await out("dc", `printf '%s' "$PRECEDENCE"`)).toBe("from workspace.yaml");
    const containerEnv: string[] = inspect("dc").Config.Env;
    expect(containerEnv).toContain("CONTAINER_ONLY=c-value");
    expect(containerEnv.some((e) => e.startsWith("REMOTE_ONLY="))).toBe(false);
  });

  test("runArgs, mounts and workspaceFolder reach the container", async () => {
    const info = inspect("dc");
    expect(info.HostConfig.CapAdd).toContain("SYS_PTRACE");
    expect(info.Config.Labels.team).toBe("dc-test");
    const wt = s.store.findByName("dc")!.mountPath;
    const mounts = info.Mounts as Array<{ Type: string; Source: string; Destination: string; Name?: string }>;
    expect(mounts.find((m) => m.Destination === `/workspaces/${basename(wt)}`)?.Source).toBe(wt);
    const cache = mounts.find((m) => m.Destination === "/home/nexus/cache");
    expect(cache?.Type).toBe("volume");
    expect(cache?.Name).toMatch(/^dc-cache-[0-9a-v]{52}$/);
    // The volume carries this instance's labels, so it is found (and cleaned) like Nexus's own.
    expect(leftovers(home).volumes).toContain(cache!.Name!);
    expect(await out("dc", `ls /workspaces/${basename(wt)}/README.md`)).toContain("README.md");
  });

  test("forwardPorts, appPort and portsAttributes labels become published ports", async () => {
    const ports = s.workspaces.get("dc").ports;
    expect(ports.find((p) => p.containerPort === 3000)?.name).toBe("web-app");
    expect(ports.find((p) => p.containerPort === 5000)?.name).toBe("port-5000");
    expect(ports.find((p) => p.containerPort === 8000)).toBeDefined();
  });

  test("lifecycle: initialize on the host, onCreate/updateContent/postCreate once, postCreate's named commands in parallel, postStart", async () => {
    const wt = s.store.findByName("dc")!.mountPath;
    expect(readFileSync(join(wt, ".init-marks"), "utf8")).toBe(`init ${basename(wt)}\n`);
    expect(await out("dc", "cat ~/marks")).toBe("oncreate\nupdate\nstart\n");
    expect(await out("dc", "cat ~/oncreate-pwd")).toBe(`/workspaces/${basename(wt)}\n`);
    // "fast" finished while "slow" slept: they ran at the same time.
    expect(await out("dc", "cat ~/marks-parallel")).toBe("fast\nslow\n");
    expect(await out("dc", "cat ~/remote-env")).toBe(`it's "quoted" $HOME {"json": [1]}`);
    const logs = readdirSync(join(home, "workspaces", s.store.findByName("dc")!.id, "logs", "hooks"));
    expect(logs).toEqual(expect.arrayContaining(["initialize.log", "on-create.log", "update-content.log", "post-create.log", "post-start.log"]));
  });

  test("create says which file set what, the caveats, and the unmet host requirements", () => {
    const text = progress.join("\n");
    expect(text).toMatch(/\.devcontainer\/devcontainer\.json: image, ports, .*env\.CONTAINER_ONLY, .*env\.REMOTE_ONLY, .*hooks\.post-create/);
    expect(text).toContain(".nexus/workspace.yaml: env.PRECEDENCE");
    expect(text).toContain("env.PRECEDENCE: .nexus/workspace.yaml wins over .devcontainer/devcontainer.json");
    expect(text).toContain("Note: remoteUser 'vscode'");
    expect(text).toMatch(/Warning: hostRequirements\.memory: the project asks for 65536\.0 GiB/);
  });

  test("status names the sources", async () => {
    const st = await s.workspaces.status("dc");
    const wt = st.worktreePath;
    expect(st.configuration?.files).toEqual([join(wt, ".devcontainer/devcontainer.json"), join(wt, ".nexus/workspace.yaml")]);
    expect(st.configuration?.overridden).toEqual([{ key: "env.PRECEDENCE", file: join(wt, ".devcontainer/devcontainer.json"), by: join(wt, ".nexus/workspace.yaml") }]);
  });

  test("postAttach runs as a hook; a restart runs initialize and postStart again, not the create commands", async () => {
    const r = await s.workspaces.runHook("dc", "post-attach");
    expect(r.exitCode).toBe(0);
    await s.workspaces.stop("dc", { timeoutSeconds: 2 });
    await s.workspaces.start("dc");
    expect(await out("dc", "cat ~/marks")).toBe("oncreate\nupdate\nstart\nattach\nstart\n");
    const wt = s.store.findByName("dc")!.mountPath;
    expect(readFileSync(join(wt, ".init-marks"), "utf8").split("\n").filter(Boolean)).toHaveLength(2);
  }, 300_000);
});

describe("consent and errors", () => {
  test("a cloned repository's initializeCommand needs --trust; nothing is left behind", async () => {
    const before = leftovers(home);
    const err = await expectError(s.workspaces.create({ name: "cloned", repo: repo }), "PERMISSION_DENIED");
    expect(err.message).toContain("runs a command on this machine (initializeCommand)");
    expect(err.suggestion).toContain("--trust");
    expect(err.details?.trustRequired).toBe(true);
    expect(s.store.findByName("cloned")).toBeUndefined();
    expect(leftovers(home)).toEqual(before);
    expect(existsSync(join(home, "repos")) ? readdirSync(join(home, "repos")) : []).toEqual([]);
  }, 120_000);

  test("a bad devcontainer.json fails create with file:line:key, before anything is made", async () => {
    const bad = makeRepo(join(root.path, "bad"), {
      ".devcontainer/devcontainer.json": `{\n  "image": "debian:bookworm-slim",\n  "runArgs": ["--privileged"]\n}\n`,
    });
    const err = await expectError(s.workspaces.create({ name: "bad", path: bad }), "INVALID_ARGUMENT");
    expect(err.message).toMatch(/\.devcontainer\/devcontainer\.json:3: runArgs\.0: runArgs '--privileged' is not supported/);
    expect(s.store.findByName("bad")).toBeUndefined();
    expect(existsSync(join(bad, ".worktree", "bad"))).toBe(false);
  });

  test("several devcontainer.json: create names them; 'devcontainer' picks one", async () => {
    const multi = makeRepo(join(root.path, "multi"), {
      ".devcontainer/python/devcontainer.json": `{ "image": "debian:bookworm-slim", "postCreateCommand": "echo python > ~/which" }`,
      ".devcontainer/node/devcontainer.json": `{ "image": "debian:bookworm-slim", "postCreateCommand": "echo node > ~/which" }`,
    });
    const err = await expectError(s.workspaces.create({ name: "multi", path: multi }), "INVALID_ARGUMENT");
    expect(err.message).toContain(".devcontainer/node/devcontainer.json, .devcontainer/python/devcontainer.json");
    await s.workspaces.create({ name: "multi", path: multi, devcontainer: ".devcontainer/python" });
    expect(await out("multi", "cat ~/which")).toBe("python\n");
    // Later starts keep the choice.
    await s.workspaces.stop("multi", { timeoutSeconds: 2 });
    await s.workspaces.start("multi");
    expect(s.workspaces.get("multi").status).toBe("running");
  }, 900_000);
});
