// What the CLI does when its output cannot be written: a reader that went away (EPIPE) is no error,
// anything else (a full disk) makes the command fail, said on stderr. NEXUS_BIN as a user runs it
// (dist/nexus, or the source under Deno); `version` with no daemon answers without starting one.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, constants, existsSync, openSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/fixtures.ts";
import { NEXUS_BIN } from "../helpers/bin.ts";
import { requireNexusBin } from "../helpers/cli.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();
requireNexusBin();

const root = tempDir("e2e-stdio");
const env = { ...process.env, NEXUS_HOME: join(root.path, "nexus"), NO_COLOR: "1" };

afterAll(async () => {
  await root[Symbol.asyncDispose]();
});

describe("output that cannot be written", () => {
  test.skipIf(!existsSync("/dev/full"))("stdout on a full device: exit 1 and the reason on stderr", () => {
    const r = spawnSync(NEXUS_BIN, ["version"], { env, stdio: ["ignore", openSync("/dev/full", "w"), "pipe"], encoding: "utf8", timeout: 120_000 });
    expect(r.stderr).toContain("nexus: could not write to stdout:");
    expect(r.stderr.toLowerCase()).toContain("no space left on device");
    expect(r.status).toBe(1);
  });

  test("the same command into a pipe nobody reads (EPIPE): exit 0, nothing said", () => {
    // A FIFO whose only reader is closed before the command starts: its every write fails with EPIPE.
    const fifo = join(root.path, "fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, "w");
    closeSync(reader);
    try {
      const r = spawnSync(NEXUS_BIN, ["version"], { env, stdio: ["ignore", writer, "pipe"], encoding: "utf8", timeout: 120_000 });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    } finally {
      closeSync(writer);
    }
  });

  test("written as usual otherwise", () => {
    const r = spawnSync(NEXUS_BIN, ["version"], { env, encoding: "utf8", timeout: 120_000 });
    expect(r.stdout).toMatch(/^nexus \d+\.\d+\.\d+/);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
