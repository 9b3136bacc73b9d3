import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { HOOK_NAMES, loadProjectConfig, parseLifecycleJson, parseProjectYaml, type ProjectConfig } from "../../src/config/project.ts";
import { tempDir, writeFiles as repo } from "../helpers/fixtures.ts";
import { thrownBy as rejected } from "../helpers/errors.ts";

const FILE = "/repo/.nexus/workspace.yaml";

const yamlError = (text: string) => rejected(() => parseProjectYaml(text, FILE));
const yaml = (...lines: string[]) => `${lines.join("\n")}\n`;

describe("loadProjectConfig: sources", () => {
  test("no .nexus folder gives an empty configuration", async () => {
    await using t = tempDir("proj");
    const empty: ProjectConfig = { files: [], ports: [], env: {}, hooks: {}, services: [], sources: {}, overridden: [] };
    expect(loadProjectConfig(t.path)).toEqual(empty);
    mkdirSync(join(t.path, ".nexus"));
    expect(loadProjectConfig(t.path)).toEqual(empty);
  });

  test("HOOK_NAMES lists the spec's five hooks in lifecycle order, then devcontainer.json's four", () => {
    expect(HOOK_NAMES).toEqual(["pre-start", "post-start", "pre-stop", "post-stop", "health-check", "on-create", "update-content", "post-create", "post-attach"]);
  });

  test(".nexus/workspace.yaml: every key", async () => {
    await using t = tempDir("proj");
    repo(t.path, {
      ".nexus/Dockerfile": "FROM debian:bookworm-slim\n",
      ".nexus/workspace.yaml": yaml(
        "dockerfile: .nexus/Dockerfile",
        "ports: [3000, 5173]",
        "env: { NODE_ENV: development, PORT: 3000, DEBUG: true }",
        "resources: { cpu: 2, memory: 4GB }",
        "hooks:",
        "  pre-start: echo one",
        "  post-start:",
        "    - npm install",
        "    - { name: migrate, command: npm run migrate, timeout: 2m, env: { CI: '1' } }",
        "  health-check: curl -fsS localhost:3000/api/health",
        "services:",
        "  web: { command: npm run dev, port: 3000, health: { http: /api/health }, depends_on: [api] }",
        "  api:",
        "    command: node api.js",
        "    port: 4000",
        "    cwd: packages/api",
        "    env: { LOG: debug }",
        "    restart: always",
        "    health: { tcp: 4000, interval: 5s, timeout: 1, retries: 5, start_period: 2m }",
      ),
    });
    const c = loadProjectConfig(t.path);
    expect(c.files).toEqual([join(t.path, ".nexus/workspace.yaml")]);
    expect(c.image).toBeUndefined();
    expect(c.dockerfile).toBe(join(t.path, ".nexus/Dockerfile"));
    expect(c.ports).toEqual([3000, 5173]);
    expect(c.env).toEqual({ NODE_ENV: "development", PORT: "3000", DEBUG: "true" });
    expect(c.resources).toEqual({ cpu: 2, memory: 4 * 1024 ** 3 });
    expect(c.hooks).toEqual({
      "pre-start": [{ name: "pre-start", command: "echo one", env: {}, timeoutSeconds: 300 }],
      "post-start": [
        { name: "post-start-1", command: "npm install", env: {}, timeoutSeconds: 300 },
        { name: "migrate", command: "npm run migrate", env: { CI: "1" }, timeoutSeconds: 120 },
      ],
      "health-check": [{ name: "health-check", command: "curl -fsS localhost:3000/api/health", env: {}, timeoutSeconds: 300 }],
    });
    expect(c.services).toEqual([
      {
        name: "api",
        command: "node api.js",
        port: 4000,
        cwd: "/workspace/packages/api",
        env: { LOG: "debug" },
        dependsOn: [],
        restart: "always",
        health: { kind: "tcp", tcp: 4000, port: 4000, intervalSeconds: 5, timeoutSeconds: 1, retries: 5, startPeriodSeconds: 120 },
      },
      {
        name: "web",
        command: "npm run dev",
        port: 3000,
        env: {},
        dependsOn: ["api"],
        restart: "on-failure",
        health: { kind: "http", http: "/api/health", port: 3000, intervalSeconds: 2, timeoutSeconds: 2, retries: 3, startPeriodSeconds: 60 },
      },
    ]);
  });

  test(".nexus/workspace.yml is read too", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/workspace.yml": "image: node:20-bookworm\n" });
    const c = loadProjectConfig(t.path);
    expect(c.image).toBe("node:20-bookworm");
    expect(c.files).toEqual([join(t.path, ".nexus/workspace.yml")]);
  });

  test("workspace.yaml and workspace.yml together are refused", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/workspace.yaml": "ports: [1]\n", ".nexus/workspace.yml": "ports: [2]\n" });
    const e = rejected(() => loadProjectConfig(t.path));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain("workspace.yaml");
    expect(e.message).toContain("workspace.yml");
  });

  test(".nexus/lifecycle.json: argv is quoted for sh, a lone command is a shell line", async () => {
    await using t = tempDir("proj");
    const lifecycle = {
      version: "1.0",
      hooks: {
        "pre-start": [
          { name: "install", command: "npm", args: ["install"], timeout: 120 },
          { name: "greet", command: "echo", args: ["it's", "a b", "$HOME"], env: { GREETING: "hi" } },
        ],
        "pre-stop": [{ name: "backup", command: "./scripts/backup.sh" }],
        "post-stop": [{ command: "docker compose down", timeout: "1m" }],
      },
    };
    repo(t.path, { ".nexus/lifecycle.json": JSON.stringify(lifecycle, null, 2) });
    const c = loadProjectConfig(t.path);
    expect(c.files).toEqual([join(t.path, ".nexus/lifecycle.json")]);
    expect(c.hooks).toEqual({
      "pre-start": [
        { name: "install", command: "npm install", env: {}, timeoutSeconds: 120 },
        { name: "greet", command: `echo 'it'\\''s' 'a b' '$HOME'`, env: { GREETING: "hi" }, timeoutSeconds: 300 },
      ],
      "pre-stop": [{ name: "backup", command: "./scripts/backup.sh", env: {}, timeoutSeconds: 300 }],
      "post-stop": [{ name: "post-stop", command: "docker compose down", env: {}, timeoutSeconds: 60 }],
    });
    expect(c.services).toEqual([]);
  });

  test("lifecycle.json with version 1 (a number) and no hooks", () => {
    expect(parseLifecycleJson(`{"version": 1}`, "/r/.nexus/lifecycle.json").hooks).toEqual({});
  });

  test("the user config's workspace entry alone", async () => {
    await using t = tempDir("proj");
    const c = loadProjectConfig(t.path, {
      userWorkspace: { path: "/src/x", image: "ubuntu:24.04", ports: [8080], hooks: { "post-start": "make" }, services: { db: { command: "postgres" } } },
      userConfigFile: "/home/u/.nexus/config.yaml",
    });
    expect(c.files).toEqual(["/home/u/.nexus/config.yaml"]);
    expect(c.image).toBe("ubuntu:24.04");
    expect(c.ports).toEqual([8080]);
    expect(c.hooks["post-start"]).toEqual([{ name: "post-start", command: "make", env: {}, timeoutSeconds: 300 }]);
    expect(c.services).toEqual([{ name: "db", command: "postgres", env: {}, dependsOn: [], restart: "on-failure" }]);
  });

  test("the user entry may be the parsed user config (parsing is idempotent)", async () => {
    await using t = tempDir("proj");
    const user = parseConfig(
      yaml(
        "workspaces:",
        "  web:",
        "    resources: { cpu: 1, memory: 1GB }",
        "    env: { N: 1 }",
        "    hooks:",
        "      pre-start: [{ command: a, timeout: 1m }]",
        "    services:",
        "      db: { command: postgres, health: { command: pg_isready, interval: 1m } }",
      ),
      "/u/config.yaml",
    );
    const c = loadProjectConfig(t.path, { userWorkspace: user.workspaces.web });
    expect(c.resources).toEqual({ cpu: 1, memory: 1024 ** 3 });
    expect(c.env).toEqual({ N: "1" });
    expect(c.hooks["pre-start"]).toEqual([{ name: "pre-start", command: "a", env: {}, timeoutSeconds: 60 }]);
    expect(c.services[0]?.health).toEqual({ kind: "command", command: "pg_isready", intervalSeconds: 60, timeoutSeconds: 2, retries: 3, startPeriodSeconds: 60 });
    expect(c.files).toEqual([]);
  });

  test("merge order: lifecycle.json, then workspace.yaml, then the user entry", async () => {
    await using t = tempDir("proj");
    repo(t.path, {
      "docker/dev.Dockerfile": "FROM scratch\n",
      ".nexus/lifecycle.json": JSON.stringify({
        version: 1,
        hooks: {
          "pre-start": [{ name: "from-json", command: "true" }],
          "post-start": [{ name: "json-post", command: "true" }],
          "pre-stop": [{ name: "json-stop", command: "true" }],
        },
      }),
      ".nexus/workspace.yaml": yaml(
        "image: node:20",
        "ports: [3000, 3000, 5173]",
        "env: { A: yaml, B: yaml }",
        "resources: small",
        "hooks:",
        "  pre-start: from-yaml",
        "  post-start: yaml-post",
        "services:",
        "  web: { command: yaml-web, depends_on: [worker] }",
        "  api: { command: yaml-api }",
      ),
    });
    const c = loadProjectConfig(t.path, {
      userWorkspace: {
        dockerfile: "docker/dev.Dockerfile",
        ports: [9000],
        env: { B: "user", C: "user" },
        hooks: { "post-start": [] },
        services: { web: { command: "user-web" }, worker: { command: "user-worker" } },
      },
      userConfigFile: "/u/config.yaml",
    });
    expect(c.files).toEqual([join(t.path, ".nexus/lifecycle.json"), join(t.path, ".nexus/workspace.yaml"), "/u/config.yaml"]);
    // A later dockerfile replaces an earlier image.
    expect(c.image).toBeUndefined();
    expect(c.dockerfile).toBe(join(t.path, "docker/dev.Dockerfile"));
    expect(c.ports).toEqual([9000]);
    expect(c.env).toEqual({ A: "yaml", B: "user", C: "user" });
    expect(c.resources).toBe("small");
    expect(c.hooks).toEqual({
      "pre-start": [{ name: "pre-start", command: "from-yaml", env: {}, timeoutSeconds: 300 }],
      "pre-stop": [{ name: "json-stop", command: "true", env: {}, timeoutSeconds: 300 }],
    });
    // web is replaced whole (its yaml depends_on is gone) and keeps its place; worker is added at the end.
    expect(c.services.map((s) => [s.name, s.command, s.dependsOn])).toEqual([
      ["web", "user-web", []],
      ["api", "yaml-api", []],
      ["worker", "user-worker", []],
    ]);
  });

  test("a later image replaces an earlier dockerfile", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/Dockerfile": "FROM scratch\n", ".nexus/workspace.yaml": "dockerfile: .nexus/Dockerfile\n" });
    const c = loadProjectConfig(t.path, { userWorkspace: { image: "alpine" } });
    expect(c.image).toBe("alpine");
    expect(c.dockerfile).toBeUndefined();
  });

  test("a project service may depend on one the user config defines", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/workspace.yaml": "services:\n  web: { command: w, depends_on: [db] }\n" });
    const c = loadProjectConfig(t.path, { userWorkspace: { services: { db: { command: "d" } } } });
    expect(c.services.map((s) => s.name)).toEqual(["db", "web"]);
  });
});

describe("defaults", () => {
  test("hooks: a string is one step named after the hook; list steps are numbered; timeout 300 s", () => {
    const layer = parseProjectYaml(yaml("hooks:", "  pre-stop: a", "  post-stop: [b, c]", "  pre-start: []"), FILE);
    expect(layer.hooks).toEqual({
      "pre-stop": [{ name: "pre-stop", command: "a", env: {}, timeoutSeconds: 300 }],
      "post-stop": [
        { name: "post-stop-1", command: "b", env: {}, timeoutSeconds: 300 },
        { name: "post-stop-2", command: "c", env: {}, timeoutSeconds: 300 },
      ],
      "pre-start": [],
    });
  });

  test("an empty hook list is left out of the merged configuration", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/workspace.yaml": "hooks:\n  pre-start: []\n" });
    expect(loadProjectConfig(t.path).hooks).toEqual({});
  });

  test("a hook timeout may be seconds or a duration", () => {
    const layer = parseProjectYaml(yaml("hooks:", "  pre-start:", "    - { command: a, timeout: 45 }", "    - { command: b, timeout: 1h30m }"), FILE);
    expect(layer.hooks["pre-start"]?.map((s) => s.timeoutSeconds)).toEqual([45, 5400]);
  });

  test("services: restart on-failure, no env, no dependencies; health defaults", () => {
    const layer = parseProjectYaml(yaml("services:", "  web: { command: serve, port: 8000, health: { http: /healthz, port: 8001 } }", "  job: { command: run }"), FILE);
    expect(layer.services).toEqual([
      {
        name: "web",
        command: "serve",
        port: 8000,
        env: {},
        dependsOn: [],
        restart: "on-failure",
        health: { kind: "http", http: "/healthz", port: 8001, intervalSeconds: 2, timeoutSeconds: 2, retries: 3, startPeriodSeconds: 60 },
      },
      { name: "job", command: "run", env: {}, dependsOn: [], restart: "on-failure" },
    ]);
  });

  test("cwd: relative to /workspace, absolute kept", () => {
    const layer = parseProjectYaml(yaml("services:", "  a: { command: x, cwd: ./web/../app }", "  b: { command: x, cwd: /opt/b/ }"), FILE);
    expect(layer.services.map((s) => s.cwd)).toEqual(["/workspace/app", "/opt/b"]);
  });

  test("an empty file is an empty layer", () => {
    const layer = parseProjectYaml("# nothing yet\n", FILE);
    expect(layer.hooks).toEqual({});
    expect(layer.services).toEqual([]);
    expect(layer.image).toBeUndefined();
  });
});

describe("service order", () => {
  test("dependencies first; unrelated services keep file order", async () => {
    await using t = tempDir("proj");
    repo(t.path, {
      ".nexus/workspace.yaml": yaml(
        "services:",
        "  web: { command: w, depends_on: [api, cache] }",
        "  docs: { command: d }",
        "  api: { command: a, depends_on: [db] }",
        "  db: { command: p }",
        "  cache: { command: c }",
        "  worker: { command: k, depends_on: [db, db] }",
      ),
    });
    const c = loadProjectConfig(t.path);
    expect(c.services.map((s) => s.name)).toEqual(["docs", "db", "api", "cache", "web", "worker"]);
    expect(c.services.find((s) => s.name === "worker")?.dependsOn).toEqual(["db"]);
  });

  test("services without dependencies keep file order, integer-like names included", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/workspace.yaml": yaml("services:", "  zeta: { command: z }", "  '2': { command: t }", "  alpha: { command: a }", "  '1': { command: o }") });
    expect(loadProjectConfig(t.path).services.map((s) => s.name)).toEqual(["zeta", "2", "alpha", "1"]);
    expect(parseProjectYaml("services:\n  b: { command: x }\n  a: { command: y }\n", FILE).services.map((s) => s.name)).toEqual(["b", "a"]);
  });
});

describe("errors name the file, the line and the key", () => {
  test("YAML syntax error", () => {
    const e = yamlError(yaml("ports: [3000", "env:", "  A: b"));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.details?.file).toBe(FILE);
    expect([1, 2]).toContain(e.details?.line as number);
    expect(e.message).toStartWith(`Invalid project configuration: ${FILE}:${e.details?.line}: `);
    expect(e.suggestion).toBe(`Fix ${FILE} at line ${e.details?.line}`);
  });

  test("YAML duplicate keys", () => {
    const e = yamlError(yaml("services:", "  web: { command: a }", "  web: { command: b }"));
    expect(e.details?.line).toBe(3);
  });

  test("a wrong value: exact line and dotted key", () => {
    const e = yamlError(yaml("image: node:20", "services:", "  web:", "    command: npm start", "    port: http"));
    expect(e.details).toEqual({ file: FILE, line: 5, key: "services.web.port" });
    expect(e.message).toBe(`Invalid project configuration: ${FILE}:5: services.web.port: expected a port number`);
    expect(e.suggestion).toBe(`Fix ${FILE} at line 5`);
  });

  test.each([
    [yaml("imag: x"), 1, "imag", "unknown key 'imag'"],
    [yaml("hooks:", "  pre-strat: a"), 2, "hooks.pre-strat", "unknown key 'pre-strat'"],
    [yaml("services:", "  web:", "    comand: a"), 3, "services.web.comand", "unknown key 'comand'"],
    [yaml("services:", "  web:", "    port: 1"), 2, "services.web.command", `missing key "command"`],
    [yaml("services:", "  Web: { command: a }"), 2, "services.Web", "expected a service name"],
    [yaml("services:", "  web: { command: a, depends_on: api }"), 2, "services.web.depends_on", "expected a list of service names"],
    [yaml("services:", "  web: { command: a, restart: sometimes }"), 2, "services.web.restart", "expected always, on-failure or never"],
    [yaml("services:", "  web:", "    command: a", "    health:", "      tcp: 1", "      interval: soon"), 6, "services.web.health.interval", "expected a duration"],
    [yaml("services:", "  web:", "    command: a", "    health: { http: /x, tcp: 1 }"), 4, "services.web.health", "exactly one of http, tcp or command"],
    [yaml("services:", "  web:", "    command: a", "    health: { http: health }"), 4, "services.web.health.http", "starting with /"],
    [yaml("services:", "  web:", "    command: a", "    health: { http: /x }"), 4, "services.web.health", "needs a port"],
    [yaml("services:", "  web:", "    command: a", "    health: { tcp: 5432, port: 1 }"), 4, "services.web.health", "port is for http probes"],
    [yaml("services:", "  web:", "    command: a", "    health: { command: x, retries: 0 }"), 4, "services.web.health.retries", "at least 1"],
    [yaml("hooks:", "  pre-start: 5"), 2, "hooks.pre-start", "expected a shell command or a list of them"],
    [yaml("hooks:", "  pre-start:", "    - ok", "    - 7"), 4, "hooks.pre-start.1", "expected a shell command or {name, command, timeout, env}"],
    [yaml("hooks:", "  pre-start:", "    - { name: x }"), 3, "hooks.pre-start.0.command", `missing key "command"`],
    [yaml("hooks:", "  pre-start:", "    - { command: a, timeout: 0 }"), 3, "hooks.pre-start.0.timeout", "above zero"],
    [yaml("hooks:", "  pre-start:", "    - { command: a, name: x }", "    - { command: b, name: x }"), 4, "hooks.pre-start.1.name", "already named 'x'"],
    [yaml("ports: [3000, 70000]"), 1, "ports.1", "from 1 to 65535"],
    [yaml("env:", "  1A: x"), 2, "env.1A", "environment variable name"],
    [yaml("env:", "  A: [1]"), 2, "env.A", "expected a string"],
    [yaml("resources: huge"), 1, "resources", "expected small, medium, large, xlarge or {cpu, memory}"],
    [yaml("- a"), 1, "(top level)", "expected a mapping"],
  ] as const)("%p: line %p, key %p", (text, line, key, message) => {
    const e = yamlError(text);
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.details).toEqual({ file: FILE, line, key });
    expect(e.message).toStartWith(`Invalid project configuration: ${FILE}:${line}: ${key}: `);
    expect(e.message).toContain(message);
  });

  test("depends_on naming an unknown service (the example in the brief's words)", async () => {
    await using t = tempDir("proj");
    repo(t.path, {
      ".nexus/workspace.yaml": yaml("image: node:20", "ports: [3000]", "", "services:", "  web:", "    command: npm run dev", "    depends_on: [db]"),
    });
    const file = join(t.path, ".nexus/workspace.yaml");
    const e = rejected(() => loadProjectConfig(t.path));
    expect(e.message).toBe(`Invalid project configuration: ${file}:7: services.web.depends_on: unknown service 'db'`);
    expect(e.details).toEqual({ file, line: 7, key: "services.web.depends_on" });
    expect(e.suggestion).toBe(`Fix ${file} at line 7`);
  });

  test("depends_on in a block list: the line of the bad item", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/workspace.yaml": yaml("services:", "  api: { command: a }", "  web:", "    command: w", "    depends_on:", "      - api", "      - cache") });
    const e = rejected(() => loadProjectConfig(t.path));
    expect(e.details).toEqual({ file: join(t.path, ".nexus/workspace.yaml"), line: 7, key: "services.web.depends_on" });
    expect(e.message).toContain("unknown service 'cache'");
  });

  test("a service depending on itself", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/workspace.yaml": yaml("services:", "  web:", "    command: w", "    depends_on: [web]") });
    const e = rejected(() => loadProjectConfig(t.path));
    expect(e.details).toEqual({ file: join(t.path, ".nexus/workspace.yaml"), line: 4, key: "services.web.depends_on" });
    expect(e.message).toContain("'web' depends on itself");
  });

  test("a dependency cycle is named", async () => {
    await using t = tempDir("proj");
    repo(t.path, {
      ".nexus/workspace.yaml": yaml(
        "services:",
        "  docs: { command: d }",
        "  web: { command: w, depends_on: [api] }",
        "  api: { command: a, depends_on: [docs, db] }",
        "  db: { command: p, depends_on: [web] }",
      ),
    });
    const e = rejected(() => loadProjectConfig(t.path));
    expect(e.message).toContain("dependency cycle: web -> api -> db -> web");
    expect(e.details).toEqual({ file: join(t.path, ".nexus/workspace.yaml"), line: 3, key: "services.web.depends_on" });
  });

  test("a cycle across files names the file of the service that closes it", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/workspace.yaml": yaml("services:", "  web: { command: w, depends_on: [db] }") });
    const e = rejected(() => loadProjectConfig(t.path, { userWorkspace: { services: { db: { command: "d", depends_on: ["web"] } } } }));
    expect(e.message).toContain("dependency cycle: web -> db -> web");
    expect(e.details?.file).toBe(join(t.path, ".nexus/workspace.yaml"));
    expect(e.details?.line).toBe(2);
  });

  test("image and dockerfile both set", () => {
    const e = yamlError(yaml("image: node:20", "ports: [1]", "dockerfile: Dockerfile"));
    expect(e.details).toEqual({ file: FILE, line: 3, key: "dockerfile" });
    expect(e.message).toContain("either image or dockerfile");
  });

  test("a dockerfile that does not exist", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/workspace.yaml": yaml("ports: [1]", "dockerfile: .nexus/Dockerfile") });
    const e = rejected(() => loadProjectConfig(t.path));
    expect(e.details).toEqual({ file: join(t.path, ".nexus/workspace.yaml"), line: 2, key: "dockerfile" });
    expect(e.message).toContain(join(t.path, ".nexus/Dockerfile"));
  });

  test("a dockerfile that is a folder", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/workspace.yaml": "dockerfile: .nexus\n" });
    expect(rejected(() => loadProjectConfig(t.path)).details?.key).toBe("dockerfile");
  });

  test("lifecycle.json: invalid JSON", async () => {
    await using t = tempDir("proj");
    repo(t.path, { ".nexus/lifecycle.json": `{\n  "hooks": {\n    "pre-start": [\n` });
    const file = join(t.path, ".nexus/lifecycle.json");
    const e = rejected(() => loadProjectConfig(t.path));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.details?.file).toBe(file);
    expect(e.message).toStartWith(`Invalid project configuration: ${file}`);
    expect(e.message).toContain("invalid JSON");
    expect(e.details?.key).toBeUndefined();
  });

  test("lifecycle.json: invalid JSON that YAML would take has no line but still fails", () => {
    const e = rejected(() => parseLifecycleJson(`{\n "version": 1,\n}`, "/r/.nexus/lifecycle.json"));
    expect(e.message).toContain("invalid JSON");
    expect(e.details?.file).toBe("/r/.nexus/lifecycle.json");
  });

  test.each([
    [`{\n  "version": 2\n}`, 2, "version", "expected version 1"],
    [`{\n  "version": 1,\n  "hooks": {\n    "pre-strat": []\n  }\n}`, 4, "hooks.pre-strat", "unknown key 'pre-strat'"],
    [`{\n  "hooks": {\n    "pre-start": [\n      { "command": "npm", "args": "install" }\n    ]\n  }\n}`, 4, "hooks.pre-start.0.args", "expected a list of strings"],
    [`{\n  "hooks": {\n    "pre-start": [\n      { "name": "x" }\n    ]\n  }\n}`, 4, "hooks.pre-start.0.command", `missing key "command"`],
    [`{\n  "hooks": {\n    "post-stop": [\n      { "command": "x",\n        "timeout": "soon" }\n    ]\n  }\n}`, 5, "hooks.post-stop.0.timeout", "expected a duration"],
    [`{\n  "hooks": {\n    "post-stop": { "command": "x" }\n  }\n}`, 3, "hooks.post-stop", "expected a list"],
    [`{ "services": {} }`, 1, "services", "unknown key 'services'"],
    [`[]`, 1, "(top level)", "expected an object"],
  ] as const)("lifecycle.json %p: line %p, key %p", (text, line, key, message) => {
    const file = "/r/.nexus/lifecycle.json";
    const e = rejected(() => parseLifecycleJson(text, file));
    expect(e.details).toEqual({ file, line, key });
    expect(e.message).toStartWith(`Invalid project configuration: ${file}:${line}: ${key}: `);
    expect(e.message).toContain(message);
  });

  test("the user entry: key under workspaces.<name>, line from the user config file", async () => {
    await using t = tempDir("proj");
    const userFile = join(t.path, "config.yaml");
    writeFileSync(userFile, yaml("workspaces:", "  web:", "    services:", "      api:", "        command: a", "        depends_on: [nope]"));
    const entry = parseConfig(yaml("workspaces:", "  web:", "    services:", "      api:", "        command: a", "        depends_on: [nope]"), userFile).workspaces.web;
    const e = rejected(() => loadProjectConfig(t.path, { userWorkspace: entry, userConfigFile: userFile, userWorkspaceName: "web" }));
    expect(e.details).toEqual({ file: userFile, line: 6, key: "workspaces.web.services.api.depends_on" });
    expect(e.message).toBe(`Invalid project configuration: ${userFile}:6: workspaces.web.services.api.depends_on: unknown service 'nope'`);
  });

  test("the user entry: without its name, the matching entry of the user config file is found", async () => {
    await using t = tempDir("proj");
    const userFile = join(t.path, "config.yaml");
    const text = yaml(
      "workspaces:",
      "  api:",
      "    image: a",
      "  web:",
      "    ports: [1]",
      "    hooks:",
      "      pre-start:",
      "        - { command: x, name: n }",
      "        - { command: y, name: n }",
    );
    writeFileSync(userFile, text);
    const entry = parseConfig(text, userFile).workspaces.web;
    const e = rejected(() => loadProjectConfig(t.path, { userWorkspace: entry, userConfigFile: userFile }));
    expect(e.details).toEqual({ file: userFile, line: 9, key: "workspaces.web.hooks.pre-start.1.name" });
  });

  test("the user entry: schema errors and image with dockerfile", async () => {
    await using t = tempDir("proj");
    const e1 = rejected(() => loadProjectConfig(t.path, { userWorkspace: { services: { api: { command: 1 } } }, userConfigFile: "/u/config.yaml" }));
    expect(e1.details).toEqual({ file: "/u/config.yaml", key: "services.api.command" });
    const e2 = rejected(() => loadProjectConfig(t.path, { userWorkspace: { image: "a", dockerfile: "b" } }));
    expect(e2.details?.key).toBe("dockerfile");
    expect(e2.message).toContain("either image or dockerfile");
  });
});
