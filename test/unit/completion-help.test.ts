// Every command's --help has a description and an example; colour appears only on a TTY and never with NO_COLOR.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const nexus = (...args: string[]) => spawnSync(BUN, [join(ROOT, "src/main.ts"), ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

describe("help", () => {
  const listing = [...nexus("--help").stdout.matchAll(/^ {2}([a-z][a-z-]*)\b.*? {2,}(\S.*)$/gm)];
  const commands = listing.map((m) => m[1]!);
  const descriptions = Object.fromEntries(listing.map((m) => [m[1]!, m[2]!.trim()]));

  test("the command list holds every command", () => {
    expect(commands).toEqual(expect.arrayContaining(["create", "list", "exec", "daemon", "doctor", "config", "completion", "version"]));
    expect(commands.length).toBeGreaterThanOrEqual(21);
  });

  test("'nexus <command> --help' shows usage and at least one example for every command", () => {
    for (const c of commands) {
      const r = nexus(c, "--help");
      expect(r.status).toBe(0);
      expect(r.stdout).toContain("Usage:");
      expect(r.stdout).toContain(descriptions[c]!);
      expect(r.stdout).toMatch(/Examples:\n {2}\S/);
      expect(r.stdout).toContain("--json");
    }
  });
});

describe("NO_COLOR", () => {
  /** Runs doctor on a pseudo-terminal (util-linux `script`), so colour would be on. */
  function onTty(env: string): string {
    const dir = tempDir("tty");
    // -u NO_COLOR: Deno's spawnSync adds the parent's environment to `env` (its async spawn does not).
    const cmd = `env -u NO_COLOR ${env} HOME=${dir.path} NEXUS_HOME=${dir.path}/nx DOCKER_HOST=unix:///nonexistent/x.sock ${BUN} ${join(ROOT, "src/main.ts")} doctor`;
    const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { encoding: "utf8", env: { PATH: process.env.PATH, TERM: "xterm" } });
    void dir[Symbol.asyncDispose]();
    return r.stdout;
  }

  test("a TTY gets colour; NO_COLOR=1 turns it off", () => {
    expect(onTty("TERM=xterm")).toContain("\u001b[");
    const plain = onTty("TERM=xterm NO_COLOR=1");
    expect(plain).toContain("docker");
    expect(plain).not.toContain("\u001b[");
  });
});

describe("--json", () => {
  test("every command (but the foreground daemon) answers one JSON document on stdout, success or error", async () => {
    await using dir = tempDir("json");
    const listing = [...nexus("--help").stdout.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!);
    for (const c of listing.filter((x) => x !== "daemon")) {
      // -u to a closed port: nothing here may start a daemon.
      const r = spawnSync(BUN, [join(ROOT, "src/main.ts"), c, "--json", "-u", "http://127.0.0.1:1"], {
        encoding: "utf8",
        env: { PATH: process.env.PATH, HOME: dir.path, NEXUS_HOME: join(dir.path, "nx"), DOCKER_HOST: "unix:///nonexistent/x.sock" },
        timeout: 30_000,
      });
      let parsed: unknown;
      expect(() => (parsed = JSON.parse(r.stdout)), `${c}: ${r.stdout}${r.stderr}`).not.toThrow();
      expect(typeof parsed).toBe("object");
    }
    expect(existsSync(join(dir.path, "nx", "daemon.sock"))).toBe(false);
  });
});
