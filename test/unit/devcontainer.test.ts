import { describe, expect, test } from "bun:test";
import { cpSync } from "node:fs";
import { basename, join } from "node:path";
import { chooseDevcontainer, findDevcontainers } from "../../src/config/devcontainer/find.ts";
import { devcontainerId, substitute } from "../../src/config/devcontainer/variables.ts";
import { loadProjectConfig } from "../../src/config/project.ts";
import type { NexusError } from "../../src/core/errors.ts";
import { tempDir, writeFiles as write } from "../helpers/fixtures.ts";
import { thrownBy as rejected } from "../helpers/errors.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "devcontainer");

/** A copy of a fixture repository (its path is what ${localWorkspaceFolder} becomes). */
function fixture(dir: string, name: string): string {
  const root = join(dir, name);
  cpSync(join(FIXTURES, name), root, { recursive: true });
  return root;
}

/** The error of a devcontainer.json with `text`, in a fresh repository. */
async function errorOf(text: string, extra: Record<string, string> = {}): Promise<NexusError> {
  await using t = tempDir("dc");
  write(t.path, { ".devcontainer/devcontainer.json": text, ...extra });
  return rejected(() => loadProjectConfig(t.path, { localEnv: {} }));
}

describe("variables", () => {
  const ctx = {
    localEnv: { HOME: "/home/me", QUOTED: `say "hi" $HOME\nnext`, EMPTY: "" },
    localWorkspaceFolder: "/src/app/.worktree/feat",
    containerWorkspaceFolder: "/workspaces/feat",
    devcontainerId: "abc",
  };
  test("localEnv with and without a default; env is the older spelling", () => {
    expect(substitute("${localEnv:HOME}/.ssh", ctx)).toBe("/home/me/.ssh");
    expect(substitute("${env:HOME}", ctx)).toBe("/home/me");
    expect(substitute("${localEnv:NOPE}", ctx)).toBe("");
    expect(substitute("${localEnv:NOPE:fallback}", ctx)).toBe("fallback");
    // A default may hold colons; an empty value is a value.
    expect(substitute("${localEnv:NOPE:postgres://u:p@db:5432/x}", ctx)).toBe("postgres://u:p@db:5432/x");
    expect(substitute("${localEnv:EMPTY:fallback}", ctx)).toBe("");
  });
  test("values are inserted as they are, and not substituted again", () => {
    expect(substitute("v=${localEnv:QUOTED}", ctx)).toBe(`v=say "hi" $HOME\nnext`);
    expect(substitute("${localEnv:X:${localEnv:HOME}}", { ...ctx, localEnv: {} })).toBe("${localEnv:HOME}");
  });
  test("folders, basename and id; unknown variables stay as written", () => {
    expect(substitute("${localWorkspaceFolder}|${localWorkspaceFolderBasename}|${containerWorkspaceFolder}|${containerWorkspaceFolderBasename}|${devcontainerId}", ctx)).toBe(
      "/src/app/.worktree/feat|feat|/workspaces/feat|feat|abc",
    );
    expect(substitute("${unknownThing} ${localEnv} $HOME", ctx)).toBe("${unknownThing} ${localEnv} $HOME");
  });
  test("containerEnv waits for the container's environment", () => {
    expect(substitute("${containerEnv:PATH}:/x", ctx)).toBe("${containerEnv:PATH}:/x");
    expect(substitute("${containerEnv:PATH}:/x", { ...ctx, containerEnv: { PATH: "/usr/bin" } })).toBe("/usr/bin:/x");
    expect(substitute("${containerEnv:NOPE:d}", { ...ctx, containerEnv: {} })).toBe("d");
  });
  test("devcontainerId is stable, 52 base-32 characters, and differs per folder", () => {
    const a = devcontainerId("/src/a", "/src/a/.devcontainer/devcontainer.json");
    expect(a).toMatch(/^[0-9a-v]{52}$/);
    expect(devcontainerId("/src/a", "/src/a/.devcontainer/devcontainer.json")).toBe(a);
    expect(devcontainerId("/src/b", "/src/b/.devcontainer/devcontainer.json")).not.toBe(a);
  });
});

describe("finding devcontainer.json", () => {
  test("the three places, in the spec's order; several need a choice", async () => {
    await using t = tempDir("dc");
    const root = fixture(t.path, "multi");
    expect(findDevcontainers(root)).toEqual([".devcontainer/node/devcontainer.json", ".devcontainer/python/devcontainer.json"]);
    const e = rejected(() => chooseDevcontainer(root));
    expect(e.message).toContain(".devcontainer/node/devcontainer.json, .devcontainer/python/devcontainer.json");
    expect(e.suggestion).toContain("--devcontainer");
    expect(chooseDevcontainer(root, ".devcontainer/python")).toBe(join(root, ".devcontainer/python/devcontainer.json"));
    expect(chooseDevcontainer(root, ".devcontainer/node/devcontainer.json")).toBe(join(root, ".devcontainer/node/devcontainer.json"));
    expect(rejected(() => chooseDevcontainer(root, ".devcontainer/rust")).suggestion).toContain(".devcontainer/node/devcontainer.json");
    write(root, { ".devcontainer.json": "{}", ".devcontainer/devcontainer.json": "{}" });
    expect(findDevcontainers(root).slice(0, 2)).toEqual([".devcontainer/devcontainer.json", ".devcontainer.json"]);
  });
  test("none: no devcontainer layer at all; false skips one that exists", async () => {
    await using t = tempDir("dc");
    expect(chooseDevcontainer(t.path)).toBeUndefined();
    const root = fixture(t.path, "multi");
    expect(loadProjectConfig(root, { devcontainer: false }).devcontainer).toBeUndefined();
  });
});

describe("a Dockerfile-based Node.js configuration", () => {
  test("every key maps onto the project configuration", async () => {
    await using t = tempDir("dc");
    const root = fixture(t.path, "node-postgres");
    const file = join(root, ".devcontainer", "devcontainer.json");
    const c = loadProjectConfig(root, { localEnv: { NODE_ENV: "test" } });
    expect(c.files).toEqual([file]);
    expect(c.image).toBeUndefined();
    expect(c.dockerfile).toBe(join(root, ".devcontainer", "Dockerfile"));
    // context ".." is taken from the folder of devcontainer.json, as the spec says.
    expect(c.build).toEqual({ context: root, args: { VARIANT: "20-bookworm", NODE_ENV: "test", BUILD_NOTE: `say "hi" for $HOME` }, target: "dev" });
    expect(c.ports).toEqual([3000, 5432]);
    expect(c.portNames).toEqual({ 3000: "web-app" });
    expect(c.devcontainer!.container.env).toEqual({ APP_HOME: "/workspace", PROJECT: basename(root) });
    // remoteEnv (and containerEnv) reach commands; ${containerEnv:...} waits for the container.
    expect(c.env).toEqual({
      APP_HOME: "/workspace",
      PROJECT: basename(root),
      PATH: "${containerEnv:PATH}:/workspace/node_modules/.bin",
      GIT_EDITOR: "code --wait",
      DB_URL: "postgres://dev:dev@localhost:5432/app",
    });
    expect(c.hooks["post-create"]).toEqual([{ name: "postCreateCommand", command: "npm ci", env: {}, timeoutSeconds: 1800, cwd: "/workspace" }]);
    // An object's commands run in parallel (one batch); an array is one program, no shell.
    expect(c.hooks["post-start"]).toEqual([
      { name: "server", command: "npm run dev", env: {}, timeoutSeconds: 1800, batch: 1, cwd: "/workspace" },
      { name: "watch", command: "exec npm run 'watch -- --preserve'", env: {}, timeoutSeconds: 1800, batch: 1, cwd: "/workspace" },
    ]);
    expect(c.hooks["post-attach"]?.[0]?.command).toBe("exec git status");
    expect(c.devcontainer!.waitFor).toBe("post-create");
    expect(c.devcontainer!.notes.join("\n")).toContain("remoteUser 'node': commands run as the workspace user 'nexus'");
    expect(c.sources).toMatchObject({ image: file, ports: file, "env.PATH": file, "hooks.post-create": file });
  });

  test("${containerEnv:...} is substituted once the container's environment is known", async () => {
    await using t = tempDir("dc");
    const root = fixture(t.path, "node-postgres");
    const c = loadProjectConfig(root, { localEnv: {}, containerEnv: { PATH: "/usr/local/bin:/usr/bin" } });
    expect(c.env.PATH).toBe("/usr/local/bin:/usr/bin:/workspace/node_modules/.bin");
  });

  test(".nexus/workspace.yaml wins per key, and says what it overrode", async () => {
    await using t = tempDir("dc");
    const root = fixture(t.path, "node-postgres");
    write(root, { ".nexus/workspace.yaml": "image: debian:bookworm-slim\nports: [8080]\nenv:\n  GIT_EDITOR: vim\nhooks:\n  post-create: make setup\n" });
    const c = loadProjectConfig(root, { localEnv: {} });
    const dc = join(root, ".devcontainer", "devcontainer.json");
    const yaml = join(root, ".nexus", "workspace.yaml");
    expect(c.files).toEqual([dc, yaml]);
    // image replaces the Dockerfile and its build options.
    expect(c.image).toBe("debian:bookworm-slim");
    expect(c.dockerfile).toBeUndefined();
    expect(c.build).toBeUndefined();
    expect(c.ports).toEqual([8080]);
    expect(c.env.GIT_EDITOR).toBe("vim");
    expect(c.env.DB_URL).toBe("postgres://dev:dev@localhost:5432/app");
    expect(c.hooks["post-create"]?.map((s) => s.command)).toEqual(["make setup"]);
    expect(c.hooks["post-start"]?.map((s) => s.name)).toEqual(["server", "watch"]);
    expect(c.overridden).toEqual([
      { key: "image", file: dc, by: yaml },
      { key: "ports", file: dc, by: yaml },
      { key: "env.GIT_EDITOR", file: dc, by: yaml },
      { key: "hooks.post-create", file: dc, by: yaml },
    ]);
    expect(c.sources["env.DB_URL"]).toBe(dc);
    expect(c.sources["env.GIT_EDITOR"]).toBe(yaml);
  });
});

describe("an image-based Go configuration", () => {
  test("runArgs, capAdd, mounts, workspaceFolder, features, initializeCommand, hostRequirements", async () => {
    await using t = tempDir("dc");
    const root = fixture(t.path, "go-tools");
    const c = loadProjectConfig(root, { localEnv: {} });
    const dc = c.devcontainer!;
    const name = basename(root);
    expect(c.image).toBe("debian:bookworm-slim");
    expect(dc.workspaceFolder).toBe(`/workspaces/${name}`);
    expect(dc.container.capAdd).toEqual(["SYS_PTRACE", "NET_ADMIN"]);
    expect(dc.container.securityOpt).toEqual(["no-new-privileges:true"]);
    expect(dc.container.env).toEqual({ GOFLAGS: "-mod=mod", HELLO_HOME: "/usr/local/hello" });
    expect(dc.container.labels).toEqual({ team: "platform" });
    expect(dc.container.extraHosts).toEqual(["registry.local:10.0.0.5"]);
    expect(dc.container.shmSize).toBe(1024 ** 3);
    expect(dc.container.mounts).toEqual([
      { type: "volume", source: `${name}-gocache`, target: "/home/nexus/.cache/go-build", readOnly: false },
      { type: "tmpfs", target: "/tmp/scratch", readOnly: false },
    ]);
    expect(dc.features).toEqual([
      {
        ref: "./local-features/hello",
        dir: join(root, ".devcontainer", "local-features", "hello"),
        id: "hello",
        options: { GREETING: "bonjour", LOUD_MODE: "false" },
        containerEnv: { HELLO_HOME: "/usr/local/hello" },
      },
    ]);
    expect(dc.initialize).toEqual([{ name: "initializeCommand", command: "echo init > .devcontainer/.initialized", env: {}, timeoutSeconds: 1800, cwd: root }]);
    expect(c.hooks["on-create"]?.[0]?.cwd).toBe(`/workspaces/${name}`);
    expect(c.hooks["update-content"]?.[0]?.command).toBe("exec sh -c 'echo updated'");
    expect(dc.hostRequirements).toEqual({ cpus: 2, memory: 4 * 1024 ** 3, storage: 32 * 1024 ** 3 });
    expect(dc.notes.join("\n")).toContain("shutdownAction 'stopContainer'");
    expect(dc.notes.join("\n")).toContain("containerUser 'root'");
  });
});

describe("errors name the file, the line and the key", () => {
  test("bad JSON (comments and trailing commas are fine)", async () => {
    const e = await errorOf(`{\n  // a comment\n  "image": "debian:bookworm-slim",\n  "forwardPorts": [3000 3001],\n}\n`);
    expect(e.message).toMatch(/devcontainer\.json:4: invalid JSON: comma expected/);
    expect(e.details).toMatchObject({ line: 4 });
  });
  test("an unknown key (a misspelling)", async () => {
    const e = await errorOf(`{\n  "image": "debian:bookworm-slim",\n  "postCreateCommands": "npm ci"\n}\n`);
    expect(e.message).toMatch(/devcontainer\.json:3: postCreateCommands: unknown key 'postCreateCommands'/);
    expect(e.details).toMatchObject({ key: "postCreateCommands", line: 3 });
  });
  test("Docker Compose: not supported yet, with the reason", async () => {
    await using t = tempDir("dc");
    const root = fixture(t.path, "compose");
    const e = rejected(() => loadProjectConfig(root, { localEnv: {} }));
    expect(e.message).toMatch(/devcontainer\.json:3: dockerComposeFile: not supported: Docker Compose based configurations are not supported yet: they describe several containers/);
  });
  test("registry features are named, with what to do instead", async () => {
    await using t = tempDir("dc");
    const root = fixture(t.path, "registry-features");
    const e = rejected(() => loadProjectConfig(root, { localEnv: {} }));
    expect(e.message).toContain(".devcontainer.json:4: features.ghcr.io/devcontainers/features/docker-in-docker:2:");
    expect(e.message).toContain("'ghcr.io/devcontainers/features/docker-in-docker:2', 'ghcr.io/devcontainers/features/github-cli:1' are features from a registry");
    expect(e.message).toContain(".nexus/workspace.yaml");
  });
  test("runArgs outside the safe subset are refused with the reason", async () => {
    let e = await errorOf(`{\n  "image": "x",\n  "runArgs": [\n    "--init",\n    "--privileged"\n  ]\n}`);
    expect(e.message).toMatch(/:5: runArgs\.1: runArgs '--privileged' is not supported: it gives the container access to the host/);
    e = await errorOf(`{ "image": "x", "runArgs": ["-p", "8080:80"] }`);
    expect(e.message).toContain("use forwardPorts or appPort");
    // The classic Go template's seccomp=unconfined would lift the workspace's own profile.
    e = await errorOf(`{ "image": "x", "runArgs": ["--cap-add=SYS_PTRACE", "--security-opt", "seccomp=unconfined"] }`);
    expect(e.message).toContain("runArgs.1: runArgs '--security-opt seccomp=unconfined' is not supported: the workspace runs Nexus's own seccomp profile");
    e = await errorOf(`{ "image": "x", "capAdd": ["SYS_PTRACE", "SYS_ADMIN"] }`);
    expect(e.message).toContain("capAdd.1: '--cap-add SYS_ADMIN' is not supported");
    e = await errorOf(`{ "image": "x", "runArgs": ["--cap-add"] }`);
    expect(e.message).toContain("'--cap-add' needs a value");
  });
  test("other refusals: ports of other hosts, mounts over Nexus's own, privileged, workspaceMount, build options", async () => {
    expect((await errorOf(`{ "image": "x", "forwardPorts": [3000, "db:5432"] }`)).message).toContain("forwardPorts.1: 'db:5432' forwards a port of another host");
    expect((await errorOf(`{ "image": "x", "mounts": ["source=/etc,target=/home/nexus,type=bind"] }`)).message).toContain("would hide /home/nexus");
    expect((await errorOf(`{ "image": "x", "mounts": ["source=relative/dir,target=/data,type=bind"] }`)).message).toContain("must be an absolute host path");
    expect((await errorOf(`{ "image": "x", "privileged": true }`)).message).toContain("privileged: not supported");
    expect((await errorOf(`{ "image": "x", "workspaceMount": "source=/tmp,target=/src,type=bind" }`)).message).toContain("workspaceMount: not supported");
    expect((await errorOf(`{ "build": { "dockerfile": "Dockerfile", "options": ["--network=host"] } }`, { ".devcontainer/Dockerfile": "FROM x\n" })).message).toContain("build.options: not supported");
    expect((await errorOf(`{ "build": { "dockerfile": "Nope" } }`)).message).toMatch(/build\.dockerfile: no such file: .*\.devcontainer\/Nope \(paths are relative to .*\.devcontainer, inside the repository\)/);
    expect((await errorOf(`{ "image": "x", "shutdownAction": "stopCompose" }`)).message).toContain("Docker Compose");
    expect((await errorOf(`{ "image": "x", "overrideCommand": false }`)).message).toContain("overrideCommand: not supported");
    expect((await errorOf(`{ "name": "no image" }`)).message).toContain("expected image or build.dockerfile");
  });
  test("bad values name the nested key and its line", async () => {
    let e = await errorOf(`{\n  "image": "x",\n  "postStartCommand": {\n    "ok": "true",\n    "bad": 42\n  }\n}`);
    expect(e.message).toMatch(/:5: postStartCommand\.bad: expected a string or a list of strings/);
    e = await errorOf(`{\n  "image": "x",\n  "containerEnv": {\n    "OK": "1",\n    "1BAD": "x"\n  }\n}`);
    expect(e.message).toMatch(/:5: containerEnv\.1BAD: expected an environment variable name/);
    e = await errorOf(`{ "image": "x", "waitFor": "postAttachCommand" }`);
    expect(e.message).toContain("waitFor: expected onCreateCommand");
    e = await errorOf(`{\n "image": "x",\n "hostRequirements": { "memory": "lots" }\n}`);
    expect(e.message).toMatch(/:3: hostRequirements\.memory: expected a size/);
    e = await errorOf(`{ "image": "x", "features": { "./feat": { "nope": 1 } } }`, {
      ".devcontainer/feat/install.sh": "#!/bin/sh\n",
      ".devcontainer/feat/devcontainer-feature.json": `{ "id": "feat", "options": { "yes": { "type": "string", "default": "y" } } }`,
    });
    expect(e.message).toContain("features../feat.nope: the feature 'feat' has no option 'nope' (it has: yes)");
  });
});

describe("the workspace's environment file", () => {
  test("values arrive as written through pam_env's KEY=\"value\" reading; a line break is refused", async () => {
    const { environmentFile } = await import("../../src/core/environment-file.ts");
    expect(environmentFile({ A: `it's "quoted" $HOME {"json": [1]}`, B: "", C: "a\\b" })).toBe(`A="it's "quoted" $HOME {"json": [1]}"\nB=""\nC="a\\b"\n`);
    expect(rejected(() => environmentFile({ X: "two\nlines" })).message).toContain("X holds a line break");
  });
  test("devcontainer.json values with a line break are refused at their key", async () => {
    const e = await errorOf(`{\n  "image": "x",\n  "remoteEnv": {\n    "MULTI": "a\\nb"\n  }\n}`);
    expect(e.message).toMatch(/:4: remoteEnv\.MULTI: a value cannot span lines/);
  });
});

describe("container options on top of Nexus's own", () => {
  test("the workspace's hardening stays: security options and dropped capabilities are added to, never replaced", async () => {
    const { applyContainerOptions } = await import("../../src/core/devcontainer.ts");
    const { toCreateOptions } = await import("../../src/docker/create-options.ts");
    await using t = tempDir("dc");
    const root = fixture(t.path, "go-tools");
    const project = loadProjectConfig(root, { localEnv: {} });
    const spec: import("../../src/docker/container-engine.ts").ContainerSpec = { image: "x", env: ["NEXUS_UID=1000"], labels: { "dev.nexus.managed": "true" }, publish: [], mounts: [], memoryBytes: 1 << 30, hardening: { sudo: true, pidsLimit: 10 } };
    applyContainerOptions(spec, project, root);
    const host = toCreateOptions(spec, "127.0.0.1").HostConfig!;
    expect(host.SecurityOpt![0]).toStartWith("seccomp=");
    expect(host.SecurityOpt!.slice(1)).toEqual(["no-new-privileges:true"]);
    expect(host.CapDrop).toEqual(["MKNOD", "SETFCAP"]);
    expect(host.CapAdd).toEqual(["SYS_PTRACE", "NET_ADMIN"]);
    expect(spec.env).toEqual(["HELLO_HOME=/usr/local/hello", "GOFLAGS=-mod=mod", "NEXUS_UID=1000"]);
    expect(spec.labels).toEqual({ team: "platform", "dev.nexus.managed": "true" });
    expect(host.Mounts!.map((m) => m.Target)).toEqual([`/workspaces/${basename(root)}`, "/home/nexus/.cache/go-build", "/tmp/scratch"]);
  });
});
