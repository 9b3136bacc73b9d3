// NEXUS_* environment variables as a config layer: the names derived from the schema, how their text
// is read, the precedence defaults ← file ← env ← flags, and errors that name the variable and the key.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { configEnvKeys, configEnvOverrides, configEnvVariable, NON_CONFIG_VARIABLES, type ConfigOverride } from "../../src/config/env.ts";
import { loadConfig, loadEffectiveConfig, parseConfig } from "../../src/config/load.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { thrownBy as rejection } from "../helpers/errors.ts";

slowTests();

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const NO_FILE = "/nonexistent/nexus-config-env-test/config.yaml";
const PORT_FLAG = (port: number): ConfigOverride => ({ key: "daemon.port", value: port, source: "--port", kind: "flag" });

/** Dotted paths of every value in a plain object that is not itself an object (lists count as values). */
function leafPaths(value: unknown, prefix: string[] = []): string[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return [prefix.join(".")];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}

describe("the variable names", () => {
  const keys = configEnvKeys();

  test("are NEXUS_ and the key's path in capitals, joined by _", () => {
    const names = Object.fromEntries(keys.map((k) => [k.key, k.variable]));
    expect(names["defaults.idle_timeout"]).toBe("NEXUS_DEFAULTS_IDLE_TIMEOUT");
    expect(names["ssh.port_range.start"]).toBe("NEXUS_SSH_PORT_RANGE_START");
    expect(names["daemon.port"]).toBe("NEXUS_DAEMON_PORT");
    expect(names["docker.host"]).toBe("NEXUS_DOCKER_HOST");
    expect(names["ssh.connection.strict_host_key_checking"]).toBe("NEXUS_SSH_CONNECTION_STRICT_HOST_KEY_CHECKING");
    for (const k of keys) {
      expect(k.variable).toBe(configEnvVariable(k.path));
      expect(k.variable).toMatch(/^NEXUS_[A-Z0-9_]+$/);
    }
  });

  test("no two keys share a variable, and none is a variable that means something else", () => {
    const seen = new Map<string, string>();
    for (const k of keys) {
      expect(seen.get(k.variable) ?? k.key).toBe(k.key);
      seen.set(k.variable, k.key);
      expect(NON_CONFIG_VARIABLES as readonly string[]).not.toContain(k.variable);
    }
  });

  test("cover every scalar and list key of the schema; user-named keys (workspaces.<name>) have none", () => {
    const mapped = keys.map((k) => k.key).sort();
    // The defaults hold every key that has one; docker.host, sync, telemetry and ide have none.
    const withDefaults = leafPaths(parseConfig("", NO_FILE)).filter((p) => !["workspaces", "secrets", "sync", "ide", "docker", "telemetry"].includes(p));
    const noDefault = ["docker.host", "telemetry.enabled", "telemetry.endpoint"];
    const sync = ["provider", "mode", "exclude", "conflict.strategy", "watch.mode", "watch.pollingInterval", "performance.maxEntryCount", "performance.maxStagingSize", "deployment"].map((k) => `sync.${k}`);
    expect(mapped).toEqual([...withDefaults, ...noDefault, ...sync].sort());
    expect(mapped.some((k) => k.startsWith("workspaces."))).toBe(false);
  });
});

describe("reading a variable's text", () => {
  const read = (env: Record<string, string>) => loadConfig(NO_FILE, env);

  test("numbers, booleans, durations, sizes and strings as the key expects them", () => {
    const c = read({
      NEXUS_DAEMON_PORT: "9000",
      NEXUS_DAEMON_HOST: "0.0.0.0",
      NEXUS_DOCKER_HOST: "tcp://10.0.0.5:2375",
      NEXUS_DEFAULTS_IDLE_TIMEOUT: "45m",
      NEXUS_DEFAULTS_IDLE_ACTION: "stop",
      NEXUS_DEFAULTS_IMAGE: "node:20",
      NEXUS_SSH_INJECTION_ENABLED: "no",
      NEXUS_SSH_INJECTION_INCLUDE_AGENT_KEYS: "FALSE",
      NEXUS_SSH_CONNECTION_FORWARD_AGENT: "0",
      NEXUS_TELEMETRY_ENABLED: "on",
      NEXUS_SSH_CONNECTION_SERVER_ALIVE_INTERVAL: "15",
      NEXUS_SSH_CONNECTION_USER_KNOWN_HOSTS_FILE: "1000", // a string key keeps digits as text
    });
    expect(c.daemon).toEqual({ port: 9000, host: "0.0.0.0", allow_privileged_ports: false });
    expect(c.docker.host).toBe("tcp://10.0.0.5:2375");
    expect(c.defaults).toMatchObject({ idle_timeout: 2700, idle_action: "stop", image: "node:20" });
    expect(c.ssh.injection).toMatchObject({ enabled: false, include_agent_keys: false });
    expect(c.ssh.connection).toMatchObject({ forward_agent: false, server_alive_interval: 15, user_known_hosts_file: "1000" });
    expect(c.telemetry.enabled).toBe(true);
  });

  test("lists are comma-separated or JSON; resources are a preset or a JSON object", () => {
    expect(read({ NEXUS_SSH_INJECTION_SOURCES: " ~/.ssh/a.pub, ~/.ssh/b.pub ," }).ssh.injection.sources).toEqual(["~/.ssh/a.pub", "~/.ssh/b.pub"]);
    expect(read({ NEXUS_SSH_CLIENT_OPTIONS: '["IdentitiesOnly=yes", "SendEnv=A,B"]' }).ssh.client_options).toEqual(["IdentitiesOnly=yes", "SendEnv=A,B"]);
    expect(read({ NEXUS_SSH_CLIENT_OPTIONS: "[]" }).ssh.client_options).toEqual([]);
    expect(read({ NEXUS_DEFAULTS_RESOURCES: "large" }).defaults.resources).toBe("large");
    expect(read({ NEXUS_DEFAULTS_RESOURCES: '{"cpu": 3, "memory": "6GB"}' }).defaults.resources).toEqual({ cpu: 3, memory: 6 * 1024 ** 3 });
  });

  test("empty variables, unknown NEXUS_* names and the non-config variables are ignored", () => {
    const env: Record<string, string> = { NEXUS_DEFAULTS_IMAGE: "", NEXUS_NO_SUCH_KEY: "1", NEXUS_DEFAULTS: "x", NEXUS_SSH_PORT_RANGE: "1-2", NEXUS_WORKSPACES_WEB_PATH: "/x" };
    for (const name of NON_CONFIG_VARIABLES) env[name] = "/somewhere";
    expect(configEnvOverrides(env)).toEqual([]);
    expect(loadEffectiveConfig(NO_FILE, env)).toEqual({ config: parseConfig("", NO_FILE), sources: {}, unknownKeys: [], notHonoured: [] });
  });
});

describe("precedence: defaults ← file ← environment ← flags", () => {
  test("each layer wins over the one below it, key by key, and says what set it", async () => {
    await using dir = tempDir("config-env");
    const file = join(dir.path, "config.yaml");
    writeFileSync(file, "daemon:\n  port: 8100\ndefaults:\n  idle_timeout: 10m\n  image: from-file\nworkspaces:\n  web: { path: /src/web }\n");
    expect(loadConfig(file).daemon.port).toBe(8100);
    const env = { NEXUS_DAEMON_PORT: "8200", NEXUS_DEFAULTS_IDLE_TIMEOUT: "20m" };
    expect(loadConfig(file, env).daemon.port).toBe(8200);
    const effective = loadEffectiveConfig(file, env, [PORT_FLAG(8300)]);
    expect(effective.config.daemon).toEqual({ port: 8300, host: "127.0.0.1", allow_privileged_ports: false });
    expect(effective.config.defaults).toMatchObject({ idle_timeout: 1200, image: "from-file", resources: "medium" });
    expect(effective.config.workspaces.web).toMatchObject({ path: "/src/web" });
    expect(effective.sources).toEqual({
      "daemon.port": "--port",
      "defaults.idle_timeout": "NEXUS_DEFAULTS_IDLE_TIMEOUT",
      "defaults.image": file,
      workspaces: file,
    });
    // A flag wins over the environment too when the file says nothing.
    expect(loadConfig(NO_FILE, { NEXUS_DAEMON_PORT: "8200" }, [PORT_FLAG(8300)]).daemon.port).toBe(8300);
  });

  test("an environment value is checked together with the file (ssh.port_range: start ≤ end)", async () => {
    await using dir = tempDir("config-env");
    const file = join(dir.path, "config.yaml");
    writeFileSync(file, "ssh:\n  port_range:\n    start: 40000\n    end: 40100\n");
    expect(loadConfig(file, { NEXUS_SSH_PORT_RANGE_END: "40050" }).ssh.port_range).toEqual({ start: 40000, end: 40050 });
    const e = rejection(() => loadConfig(file, { NEXUS_SSH_PORT_RANGE_END: "39000" }));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain("NEXUS_SSH_PORT_RANGE_END=39000");
    expect(e.message).toContain("ssh.port_range: start must not be above end");
    expect(e.suggestion).toContain(file);
    expect(e.details).toMatchObject({ key: "ssh.port_range", variable: "NEXUS_SSH_PORT_RANGE_END" });
  });

  test("an invalid file is reported as the file's error (its line), whatever the environment holds", async () => {
    await using dir = tempDir("config-env");
    const file = join(dir.path, "config.yaml");
    writeFileSync(file, "defaults:\n  idle_timeout: soon\n");
    const e = rejection(() => loadConfig(file, { NEXUS_DEFAULTS_IDLE_TIMEOUT: "5m" }));
    expect(e.message).toContain(`${file}:2: defaults.idle_timeout`);
  });
});

describe("invalid values from the environment or a flag", () => {
  test.each([
    ["NEXUS_DAEMON_PORT", "http", "daemon.port", /number/i],
    ["NEXUS_SSH_PORT_RANGE_START", "99999", "ssh.port_range.start", /65535/],
    ["NEXUS_DEFAULTS_IDLE_TIMEOUT", "soon", "defaults.idle_timeout", "expected a duration"],
    ["NEXUS_DEFAULTS_RESOURCES", "huge", "defaults.resources", "expected small, medium, large, xlarge"],
    ["NEXUS_DEFAULTS_RESOURCES", '{"cpu": 2, "memory": "lots"}', "defaults.resources", "expected a size"],
    ["NEXUS_DEFAULTS_IDLE_ACTION", "sleep", "defaults.idle_action", "pause"],
    ["NEXUS_SSH_INJECTION_ENABLED", "maybe", "ssh.injection.enabled", "expected true or false"],
    ["NEXUS_SSH_CLIENT_OPTIONS", "[unclosed", "ssh.client_options", "comma-separated list or a JSON array"],
    ["NEXUS_SSH_INJECTION_SOURCES", "[1, 2]", "ssh.injection.sources", "string"],
  ] as Array<[string, string, string, string | RegExp]>)("%s=%s is INVALID_ARGUMENT naming the variable and %s", (variable, text, key, reason) => {
    const e = rejection(() => loadConfig(NO_FILE, { [variable]: text }));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain(`${variable}=${text}: ${key}: `);
    if (typeof reason === "string") expect(e.message).toContain(reason);
    else expect(e.message).toMatch(reason);
    expect(e.suggestion).toBe(`Fix or unset ${variable}`);
    expect(e.details).toMatchObject({ key, variable });
  });

  test("an invalid flag value names the flag and the key", () => {
    const e = rejection(() => loadConfig(NO_FILE, {}, [PORT_FLAG(70000)]));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain("--port 70000: daemon.port");
    expect(e.details).toMatchObject({ key: "daemon.port", flag: "--port" });
  });

  test("the environment is validated even where a flag overrides it", () => {
    const e = rejection(() => loadConfig(NO_FILE, { NEXUS_DAEMON_PORT: "0" }, [PORT_FLAG(8300)]));
    expect(e.details).toMatchObject({ variable: "NEXUS_DAEMON_PORT" });
  });
});

function nexus(home: string, env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(BUN, [join(ROOT, "src/main.ts"), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(home, "home"), NEXUS_HOME: join(home, "nexus"), NO_COLOR: "1", ...env },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("nexus config with NEXUS_* variables", () => {
  test("text mode says what set each value that is not a default; --json is the plain effective config", async () => {
    await using dir = tempDir("config-env");
    mkdirSync(join(dir.path, "nexus"));
    writeFileSync(join(dir.path, "nexus", "config.yaml"), "defaults:\n  image: node:20\n  idle_timeout: 10m\n");
    const env = { NEXUS_DEFAULTS_IDLE_TIMEOUT: "45m", NEXUS_SSH_CLIENT_OPTIONS: "IdentitiesOnly=yes", NEXUS_URL: "http://127.0.0.1:1" };
    const r = nexus(dir.path, env, "config");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("NEXUS_* environment variables");
    expect(r.stdout).toContain("  idle_timeout: 2700 # from NEXUS_DEFAULTS_IDLE_TIMEOUT\n");
    expect(r.stdout).toContain("  image: node:20 # from config.yaml\n");
    expect(r.stdout).toContain("  client_options: # from NEXUS_SSH_CLIENT_OPTIONS\n    - IdentitiesOnly=yes\n");
    expect(r.stdout).toContain("  resources: medium\n"); // a default carries no note
    const shown = parse(r.stdout);
    const json = nexus(dir.path, env, "config", "--json");
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(shown);
    expect(shown.defaults.idle_timeout).toBe(2700);
  });

  test("get returns the effective value", async () => {
    await using dir = tempDir("config-env");
    expect(nexus(dir.path, { NEXUS_SSH_PORT_RANGE_START: "33000" }, "config", "get", "ssh.port_range.start").stdout).toBe("33000\n");
    expect(JSON.parse(nexus(dir.path, { NEXUS_SSH_INJECTION_SOURCES: "a.pub,b.pub" }, "config", "get", "ssh.injection.sources", "--json").stdout)).toEqual({
      key: "ssh.injection.sources",
      value: ["a.pub", "b.pub"],
    });
  });

  test("an invalid variable makes config exit 2 naming the variable and the key", async () => {
    await using dir = tempDir("config-env");
    const r = nexus(dir.path, { NEXUS_DEFAULTS_IDLE_TIMEOUT: "soon" }, "config");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("NEXUS_DEFAULTS_IDLE_TIMEOUT=soon: defaults.idle_timeout");
    const j = nexus(dir.path, { NEXUS_DEFAULTS_IDLE_TIMEOUT: "soon" }, "config", "get", "defaults.image", "--json");
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout).error).toMatchObject({ code: "INVALID_ARGUMENT", details: { key: "defaults.idle_timeout", variable: "NEXUS_DEFAULTS_IDLE_TIMEOUT" } });
  });

  test("set writes the file and says when a variable still overrides it", async () => {
    await using dir = tempDir("config-env");
    const r = nexus(dir.path, { NEXUS_DEFAULTS_IMAGE: "from-env" }, "config", "set", "defaults.image", "from-file");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("NEXUS_DEFAULTS_IMAGE in this environment overrides the file");
    expect(readFileSync(join(dir.path, "nexus", "config.yaml"), "utf8")).toContain("image: from-file");
    expect(nexus(dir.path, { NEXUS_DEFAULTS_IMAGE: "from-env" }, "config", "get", "defaults.image").stdout).toBe("from-env\n");
    expect(nexus(dir.path, {}, "config", "get", "defaults.image").stdout).toBe("from-file\n");
  });
});

describe("the daemon reads the same effective configuration", () => {
  test("an invalid variable stops it before it listens, naming the variable and the key", async () => {
    await using dir = tempDir("config-env");
    const r = nexus(dir.path, { NEXUS_SSH_PORT_RANGE_START: "0", DOCKER_HOST: "unix:///nonexistent/nexus-config-env-test.sock" }, "daemon");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("NEXUS_SSH_PORT_RANGE_START=0: ssh.port_range.start");
    expect(existsSync(join(dir.path, "nexus", "daemon.sock"))).toBe(false);
  });

  test("--port is the flag layer: it wins over NEXUS_DAEMON_PORT and the file, which are still validated", async () => {
    await using dir = tempDir("config-env");
    mkdirSync(join(dir.path, "nexus"));
    writeFileSync(join(dir.path, "nexus", "config.yaml"), "daemon:\n  port: 8100\n");
    const r = nexus(dir.path, { NEXUS_DAEMON_PORT: "none", DOCKER_HOST: "unix:///nonexistent/nexus-config-env-test.sock" }, "daemon", "--port", "8300");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("NEXUS_DAEMON_PORT=none: daemon.port");
  });
});
