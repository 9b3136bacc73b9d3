// Config that does nothing is refused or said: unknown keys (file:line:key, a warning at load, an
// error under `nexus config validate`), the schema of secrets/sync/telemetry/ide, the key table and
// the README's reference made from it.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CONFIG_KEYS, keyDoc, withConfigReference } from "../../src/config/keys.ts";
import { configNotices, loadEffectiveConfig, parseConfig } from "../../src/config/load.ts";
import { ConfigSchema } from "../../src/config/schema.ts";
import { unknownKeyPaths } from "../../src/config/unknown-keys.ts";
import { NexusError } from "../../src/kernel/errors.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");

function nexus(home: string, ...args: string[]) {
  const r = spawnSync(BUN, [join(ROOT, "src/main.ts"), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(home, "home"), NEXUS_HOME: join(home, "nexus"), NO_COLOR: "1" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeConfig(dir: string, text: string): string {
  mkdirSync(join(dir, "nexus"), { recursive: true, mode: 0o700 });
  const file = join(dir, "nexus", "config.yaml");
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

const TYPOS = [
  "daemon:", "  port: 8080", "  prot: 1", // 3
  "secrets:", "  named:", "    NPM:", "      source: file", "      path: /x", "      pth: /y", // 9
  "workspaces:", "  web:", "    imagee: node", "    hooks:", "      post-start:", "        - command: make", "          tiemout: 3", // 16
  "bogus: 1", // 17
].join("\n") + "\n";

interface SchemaNode {
  type: string;
  wrapped?: SchemaNode;
  entries?: Record<string, SchemaNode>;
  value?: SchemaNode;
  options?: SchemaNode[];
}
const unwrap = (n: SchemaNode): SchemaNode => (n.type === "optional" && n.wrapped ? unwrap(n.wrapped) : n);

describe("unknown keys", () => {
  test("are left out with file:line:key, the rest of the file still applies", async () => {
    await using dir = tempDir("cfgkeys");
    const file = writeConfig(dir.path, TYPOS);
    const e = loadEffectiveConfig(file, {});
    expect(e.unknownKeys).toEqual([
      { file, line: 3, key: "daemon.prot" },
      { file, line: 9, key: "secrets.named.NPM.pth" },
      { file, line: 12, key: "workspaces.web.imagee" },
      { file, line: 16, key: "workspaces.web.hooks.post-start.0.tiemout" },
      { file, line: 17, key: "bogus" },
    ]);
    expect(e.config.daemon.port).toBe(8080);
    expect(e.config.secrets.named.NPM).toEqual({ source: "file", path: "/x" });
    expect(configNotices(e)).toContain(`config: ${file}:17: bogus: unknown key (ignored)`);
  });

  test("parseConfig (config set) refuses them, naming the line and the key", () => {
    expect(() => parseConfig("defaults:\n  idle_timout: 30m\n", "/c.yaml")).toThrow(NexusError);
    try {
      parseConfig("defaults:\n  idle_timout: 30m\n", "/c.yaml");
    } catch (err) {
      expect((err as NexusError).details).toEqual({ file: "/c.yaml", line: 2, key: "defaults.idle_timout" });
    }
  });

  test("records take any key, their values are walked; lists of steps too", () => {
    expect(unknownKeyPaths(ConfigSchema, { workspaces: { anything: { image: "x", hooks: { "pre-start": ["a", { command: "b", x: 1 }] } } } })).toEqual([
      ["workspaces", "anything", "hooks", "pre-start", "1", "x"],
    ]);
    expect(unknownKeyPaths(ConfigSchema, { secrets: { named: { A: { source: "keychain", service: "s", account: "a", path: "/p" } } } })).toEqual([
      ["secrets", "named", "A", "path"],
    ]);
  });

  test("nexus config warns on stderr; nexus config validate fails (exit 2) and lists every one", async () => {
    await using dir = tempDir("cfgkeys");
    writeConfig(dir.path, TYPOS);
    const shown = nexus(dir.path, "config", "get", "daemon.port");
    expect(shown.code).toBe(0);
    expect(shown.stdout).toBe("8080\n");
    expect(shown.stderr).toContain("config.yaml:3: daemon.prot: unknown key (ignored)");
    const v = nexus(dir.path, "config", "validate");
    expect(v.code).toBe(2);
    for (const k of ["3: daemon.prot", "9: secrets.named.NPM.pth", "12: workspaces.web.imagee", "17: bogus"]) expect(v.stderr).toContain(`config.yaml:${k}`);
    const json = JSON.parse(nexus(dir.path, "config", "validate", "--json").stdout);
    expect(json.error.code).toBe("INVALID_ARGUMENT");
    expect(json.error.details.unknownKeys).toContainEqual({ key: "bogus", line: 17 });
  });

  test("a valid file passes validate; keys it sets that are not honoured are listed", async () => {
    await using dir = tempDir("cfgkeys");
    writeConfig(dir.path, "telemetry:\n  enabled: true\n  endpoint: https://telemetry.example\ndefaults:\n  idle_timeout: 10m\n");
    const v = nexus(dir.path, "config", "validate", "--json");
    expect(v.code).toBe(0);
    const out = JSON.parse(v.stdout);
    expect(out.valid).toBe(true);
    const expected = CONFIG_KEYS.filter((k) => k.key.startsWith("telemetry.") && k.honoured !== true).map((k) => k.key);
    expect(out.notHonoured.map((k: { key: string }) => k.key)).toEqual(expected);
  });
});

describe("secrets, sync, telemetry and ide are schema-checked", () => {
  test.each([
    ["secrets:\n  named:\n    NPM:\n      source: keychian\n", "secrets.named.NPM.source", "expected source: file"],
    ["secrets:\n  named:\n    NPM:\n      source: keychain\n      service: npm\n", "secrets.named.NPM.account", "missing"],
    ["secrets:\n  named:\n    9BAD:\n      source: file\n      path: /x\n", "secrets.named.9BAD", "environment variable name"],
    ["secrets:\n  ssh:\n    mode: forward\n", "secrets.ssh.mode", "expected agent, mount or auto"],
    ["secrets:\n  env_files: ~/.env\n", "secrets.env_files", "list of dotenv files"],
    ["sync:\n  mode: both\n", "sync.mode", "two-way-safe"],
    ["sync:\n  watch:\n    pollingInterval: often\n", "sync.watch.pollingInterval", "duration"],
    ["telemetry:\n  enabled: maybe\n", "telemetry.enabled", "true or false"],
    ["telemetry:\n  endpoint: telemetry.nexus.dev\n", "telemetry.endpoint", "URL"],
    ["ide:\n  default: emacs\n", "ide.default", "vscode"],
    ["ide:\n  extensions: [eslint]\n", "ide.extensions.0", "extension id"],
  ])("%p is refused at %p", (text, key, message) => {
    try {
      parseConfig(text, "/c.yaml");
      throw new Error("accepted");
    } catch (err) {
      expect(err).toBeInstanceOf(NexusError);
      expect((err as NexusError).details?.key).toBe(key);
      expect((err as NexusError).message).toContain(message);
    }
  });

  test("the spec's full example parses without unknown keys", () => {
    const spec = readFileSync("/work/shared/spec/api-spec.md", "utf8");
    const block = /# ~\/\.nexus\/config\.yaml\n([\s\S]*?)```/.exec(spec);
    if (!block) return; // the spec is not beside this checkout
    const parsed = parseConfig(block[1]!, "spec.yaml");
    expect(parsed.secrets.named.NPM_TOKEN).toEqual({ source: "keychain", service: "npm", account: "auth-token" });
    expect(parsed.ide.extensions).toEqual(["dbaeumer.vscode-eslint", "bradlc.vscode-tailwindcss"]);
  });
});

describe("the key table", () => {
  test("names every key of the schema, and only keys of the schema", () => {
    const missing: string[] = [];
    const walk = (node: SchemaNode, path: string[]) => {
      const s = unwrap(node);
      if (path.length > 0 && keyDoc(path.join("."))) return;
      if (s.type === "record" && s.value) return walk(s.value, [...path, "x"]);
      // A variant (secrets.named.<name>): every branch's keys.
      if (s.type === "variant" && s.options) {
        for (const o of s.options) walk(o, path);
        return;
      }
      if (s.entries) {
        for (const [k, child] of Object.entries(s.entries)) walk(child, [...path, k]);
        return;
      }
      missing.push(path.join("."));
    };
    walk(ConfigSchema as unknown as SchemaNode, []);
    expect(missing).toEqual([]);
    const resolves = (key: string) => {
      let node: SchemaNode | undefined = ConfigSchema as unknown as SchemaNode;
      for (const part of key.split(".")) {
        const s: SchemaNode = unwrap(node!);
        node = s.type === "record" ? s.value : s.type === "variant" ? s.options?.map(unwrap).find((o) => o.entries?.[part])?.entries?.[part] : s.entries?.[part];
        if (!node) return false;
      }
      return true;
    };
    expect(CONFIG_KEYS.filter((k) => !resolves(k.key)).map((k) => k.key)).toEqual([]);
  });

  test("the README's configuration reference is the table's (run: bun scripts/config-reference.ts)", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(withConfigReference(readme)).toBe(readme);
  });
});
