// The prompts on a terminal that reports no size (0 columns: `script` with no terminal around it,
// some CI ptys): drawn at 80 columns, not one character per line.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { promptOutput } from "../../src/cli/prompt-output.ts";
import { shellQuote } from "../../src/ssh/quote.ts";
import { tempDir } from "../helpers/fixtures.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const script = spawnSync("script", ["--version"]).status === 0;

const sized = (columns: number | undefined, rows: number | undefined) => Object.assign(new PassThrough(), { columns, rows });

describe("promptOutput", () => {
  test("a stream that reports a size is used as it is", () => {
    const out = sized(120, 40);
    expect(promptOutput(out)).toBe(out);
  });

  test("0 or no columns and rows read as 80×24; writes and listeners reach the stream", () => {
    for (const [c, r] of [[0, 0], [undefined, undefined], [0, 30]] as const) {
      const out = sized(c, r);
      const p = promptOutput(out) as PassThrough & { columns: number; rows: number };
      expect([p.columns, p.rows]).toEqual([80, r === 30 ? 30 : 24]);
      let got = "";
      out.on("data", (d: Buffer) => (got += d.toString()));
      p.write("drawn");
      expect(got).toBe("drawn");
    }
  });
});

describe.skipIf(!script)("on a terminal of 0 columns", () => {
  test("nexus ssh-config install asks on whole lines, and 'n' changes nothing", async () => {
    await using dir = tempDir("prompt-cols");
    const home = join(dir.path, "home");
    mkdirSync(home, { recursive: true });
    const cli = [BUN, join(ROOT, "src/main.ts"), "ssh-config", "install"].map(shellQuote).join(" ");
    const r = spawnSync("sh", ["-c", `(sleep 3; printf n) | script -qec ${shellQuote(`stty cols 0 rows 0; exec ${cli}`)} /dev/null`], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, NEXUS_HOME: join(dir.path, "nexus"), TERM: "xterm", NO_COLOR: "1" },
      encoding: "utf8",
      timeout: 60_000,
    });
    const text = r.stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
    expect(text).toContain("Add 'Include");
    expect(text).toContain("Nothing changed");
    expect(existsSync(join(home, ".ssh", "config"))).toBe(false);
  });
});
