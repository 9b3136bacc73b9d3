// `nexus config`, `config get` and `config set` as a process, on a temporary NEXUS_HOME.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
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

describe("nexus config", () => {
  test("shows the defaults when there is no config file, as YAML or --json", async () => {
    await using dir = tempDir("config");
    const r = nexus(dir.path, "config");
    expect(r.code).toBe(0);
    const shown = parse(r.stdout);
    expect(shown.defaults).toMatchObject({ backend: "docker", idle_timeout: 1800, resources: "medium", image: "nexus-workspace:latest" });
    expect(shown.ssh.port_range).toEqual({ start: 32800, end: 34999 });
    expect(JSON.parse(nexus(dir.path, "config", "--json").stdout)).toEqual(shown);
    expect(existsSync(join(dir.path, "nexus", "config.yaml"))).toBe(false); // showing writes nothing
  });

  test("daemon.port's default is marked as not in force (TCP is opt-in); a set one says where it came from", async () => {
    await using dir = tempDir("config");
    const shown = nexus(dir.path, "config").stdout;
    expect(shown).toMatch(/^ {2}port: 8080 # not in force: TCP is off unless daemon.port is set/m);
    mkdirSync(join(dir.path, "nexus"));
    writeFileSync(join(dir.path, "nexus", "config.yaml"), "daemon:\n  port: 9100\n");
    const set = nexus(dir.path, "config").stdout;
    expect(set).toMatch(/^ {2}port: 9100 # from config.yaml$/m);
    expect(set).not.toContain("not in force");
  });

  test("the file overrides the defaults; get reads one dotted key", async () => {
    await using dir = tempDir("config");
    mkdirSync(join(dir.path, "nexus"));
    writeFileSync(join(dir.path, "nexus", "config.yaml"), "ssh:\n  port_range:\n    start: 40000\n    end: 40100\n");
    expect(nexus(dir.path, "config", "get", "ssh.port_range.start").stdout).toBe("40000\n");
    expect(nexus(dir.path, "config", "get", "defaults.image").stdout).toBe("nexus-workspace:latest\n");
    expect(JSON.parse(nexus(dir.path, "config", "get", "ssh.port_range", "--json").stdout)).toEqual({ key: "ssh.port_range", value: { start: 40000, end: 40100 } });
    const missing = nexus(dir.path, "config", "get", "defaults.nope");
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain("No config key 'defaults.nope'");
  });

  test("set validates, keeps comments, and says when the daemon picks it up", async () => {
    await using dir = tempDir("config");
    const file = join(dir.path, "nexus", "config.yaml");
    mkdirSync(join(dir.path, "nexus"));
    writeFileSync(file, "# my settings\ndefaults:\n  image: node:20 # for the web app\n");
    const r = nexus(dir.path, "config", "set", "defaults.idle_timeout", "45m");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("nexus daemon stop");
    const text = readFileSync(file, "utf8");
    expect(text).toContain("# my settings");
    expect(text).toContain("image: node:20 # for the web app");
    expect(text).toContain("idle_timeout: 45m");
    expect(nexus(dir.path, "config", "get", "defaults.idle_timeout").stdout).toBe("2700\n");
    expect(nexus(dir.path, "config", "set", "ssh.port_range.end", "33000").code).toBe(0);
    expect(parse(readFileSync(file, "utf8")).ssh.port_range.end).toBe(33000); // a number, not "33000"
  });

  test("an invalid value or an unknown key is refused, naming the key, and nothing is written", async () => {
    await using dir = tempDir("config");
    const file = join(dir.path, "nexus", "config.yaml");
    mkdirSync(join(dir.path, "nexus"));
    writeFileSync(file, "defaults:\n  resources: small\n");
    for (const [key, value] of [["defaults.resources", "huge"], ["ssh.port_range.start", "99999"], ["defaults.idle_timeout", "soon"], ["nosuch.key", "1"]] as const) {
      const r = nexus(dir.path, "config", "set", key, value);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(key.split(".")[0]!);
      expect(r.stderr).toContain(`Refused: ${key} = ${value}`);
      expect(readFileSync(file, "utf8")).toBe("defaults:\n  resources: small\n");
    }
    const json = nexus(dir.path, "config", "set", "defaults.resources", "huge", "--json");
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: "INVALID_ARGUMENT", details: { key: "defaults.resources" } });
  });
});
