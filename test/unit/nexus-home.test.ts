// A NEXUS_HOME that cannot be made: the CLI says which folder and what to do (no daemon, no log
// exists yet, so no pointing at one).
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");

function nexus(home: string, ...args: string[]) {
  const r = spawnSync(BUN, [join(ROOT, "src/main.ts"), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent", NEXUS_HOME: home, DOCKER_HOST: "unix:///nonexistent/docker.sock", NO_COLOR: "1" },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("a NEXUS_HOME that cannot be made", () => {
  test("a file in its path: names it, says what to do, exit 1", async () => {
    await using dir = tempDir("home");
    writeFileSync(join(dir.path, "file"), "");
    const r = nexus(join(dir.path, "file", "nx"), "list");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Cannot make the Nexus home ${join(dir.path, "file", "nx")}: ENOTDIR`);
    expect(r.stderr).toContain("set NEXUS_HOME to a folder you can write");
    expect(r.stderr).not.toContain("daemon.log");
    expect(JSON.parse(nexus(join(dir.path, "file", "nx"), "list", "--json").stdout).error.code).toBe("PERMISSION_DENIED");
  });

  test.skipIf(process.getuid?.() === 0)("a parent that is not writable (not as root: root writes anyway)", async () => {
    await using dir = tempDir("home");
    const parent = join(dir.path, "ro");
    mkdirSync(parent);
    chmodSync(parent, 0o500);
    try {
      const r = nexus(join(parent, "nx"), "list");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Cannot make the Nexus home ${join(parent, "nx")}: EACCES`);
      expect(r.stderr).toContain(`Make ${parent} writable for you`);
      expect(r.stderr).not.toContain("daemon.log");
    } finally {
      chmodSync(parent, 0o700);
    }
  });
});
