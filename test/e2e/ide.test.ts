// IDE integration through the compiled binary: ide.extensions land in the container user's home (not
// the repository) at create and at start; `nexus code` / `nexus open` run the exact command line or
// URI. The IDEs are stand-in scripts on PATH that record their arguments (no IDE runs here).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, tearDown } from "../helpers/cli.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const root = tempDir("ide");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const userHome = join(root.path, "home");
const record = join(root.path, "launched.txt");
const allShims = join(root.path, "bin-all");
const openerOnly = join(root.path, "bin-opener");
const SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin";
// stdin is /dev/null: an IDE command never waits for input.
const run = nexusRunner({ home, cwd: repo, env: { HOME: userHome }, stdin: "ignore" });

function shim(dir: string, name: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), `#!/bin/sh\necho "$(basename "$0") $*" >> '${record}'\n`);
  chmodSync(join(dir, name), 0o755);
}

/** `nexus args` with PATH set to `path` (which IDEs and openers it finds). */
const nexus = (args: string[], path = process.env.PATH ?? SYSTEM_PATH) => run(args, { env: { PATH: path } });

/** The next line a stand-in IDE recorded (it runs detached, so wait for it). */
async function launched(): Promise<string> {
  const text = await until("the stand-in IDE ran", () => (existsSync(record) ? readFileSync(record, "utf8") : ""), (t) => t.endsWith("\n"), { timeoutMs: 30_000, intervalMs: 50 });
  rmSync(record);
  return text.trim();
}

beforeAll(() => {
  requireE2E();
  mkdirSync(userHome, { recursive: true });
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, "config.yaml"), "ide:\n  default: cursor\n  extensions:\n    - dbaeumer.vscode-eslint\n    - bradlc.vscode-tailwindcss\n");
  for (const name of ["code", "cursor", "xdg-open"]) shim(allShims, name);
  shim(openerOnly, "xdg-open");
  const r = nexus(["create", "ide1"]);
  if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`);
}, 900_000);

afterAll(() => tearDown(run, root, ["ide1"]));

describe("ide.extensions", () => {
  const show = ["exec", "ide1", "--", "sh", "-c", 'cat ~/.vscode/extensions.json && echo "owner $(stat -c %u:%g ~/.vscode/extensions.json) user $(id -u):$(id -g)"'];

  test("are the recommendations in ~/.vscode/extensions.json, the container user's, not in the repository", () => {
    const r = nexus(show);
    expect(r.code).toBe(0);
    const [json, owner] = r.stdout.split(/\n(?=owner )/);
    expect(JSON.parse(json!)).toEqual({ recommendations: ["dbaeumer.vscode-eslint", "bradlc.vscode-tailwindcss"] });
    const m = /^owner (\S+) user (\S+)$/.exec(owner!.trim());
    expect(m?.[1]).toBe(m?.[2]!);
    expect(existsSync(join(repo, ".worktree", "ide1", ".vscode"))).toBe(false);
    expect(existsSync(join(repo, ".vscode"))).toBe(false);
  });

  test("are written again at start", () => {
    expect(nexus(["exec", "ide1", "--", "rm", "/home/nexus/.vscode/extensions.json"]).code).toBe(0);
    expect(nexus(["stop", "ide1"]).code).toBe(0);
    const started = nexus(["start", "ide1"]);
    if (started.code !== 0) throw new Error(`start failed: ${started.stderr}`);
    expect(JSON.parse(nexus(["exec", "ide1", "--", "cat", "/home/nexus/.vscode/extensions.json"]).stdout).recommendations).toHaveLength(2);
  }, 600_000);
});

describe("nexus code / nexus open", () => {
  test("without the Include line in ~/.ssh/config (and no terminal to ask on) it says how to add it", () => {
    const r = nexus(["code", "ide1"], `${allShims}:${SYSTEM_PATH}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("does not include");
    expect(r.stderr).toContain("nexus ssh-config install --yes");
    expect(existsSync(record)).toBe(false);
  });

  test("code runs 'code --remote ssh-remote+nexus-<ws> /workspace'; without code, the vscode:// URI through xdg-open", async () => {
    expect(nexus(["ssh-config", "install", "--yes"]).code).toBe(0);
    const r = nexus(["code", "ide1"], `${allShims}:${SYSTEM_PATH}`);
    expect(r.code).toBe(0);
    expect(await launched()).toBe("code --remote ssh-remote+nexus-ide1 /workspace");
    expect(r.stdout).toBe("Opening ide1 in vscode: code --remote ssh-remote+nexus-ide1 /workspace\n");
    expect(nexus(["code", "ide1"], `${openerOnly}:${SYSTEM_PATH}`).code).toBe(0);
    expect(await launched()).toBe("xdg-open vscode://vscode-remote/ssh-remote+nexus-ide1/workspace");
  });

  test("open uses ide.default (cursor here); --ide and --print; --json", async () => {
    expect(nexus(["open", "ide1"], `${allShims}:${SYSTEM_PATH}`).code).toBe(0);
    expect(await launched()).toBe("cursor --remote ssh-remote+nexus-ide1 /workspace");
    const port = JSON.parse(nexus(["status", "ide1", "--json"]).stdout).ports.ssh as number;
    const printed = JSON.parse(nexus(["open", "ide1", "--ide", "jetbrains", "--print", "--json"], SYSTEM_PATH).stdout);
    expect(printed).toEqual({
      workspace: "ide1",
      ide: "jetbrains",
      argv: ["xdg-open", `jetbrains-gateway://connect#type=ssh&deploy=false&host=127.0.0.1&port=${port}&user=nexus&projectPath=%2Fworkspace`],
      uri: `jetbrains-gateway://connect#type=ssh&deploy=false&host=127.0.0.1&port=${port}&user=nexus&projectPath=%2Fworkspace`,
      opened: false,
    });
    expect(nexus(["code", "ide1", "--print"], SYSTEM_PATH).stdout).toBe("xdg-open vscode://vscode-remote/ssh-remote+nexus-ide1/workspace\n");
    expect(existsSync(record)).toBe(false);
  });

  test("errors: an unknown workspace (exit 4), an unknown IDE (exit 2), nothing to open with (exit 2)", () => {
    expect(nexus(["code", "nope"]).code).toBe(4);
    const ide = nexus(["open", "ide1", "--ide", "emacs"]);
    expect(ide.code).toBe(2);
    expect(ide.stderr).toContain("Unknown IDE 'emacs'");
    const none = nexus(["code", "ide1"], SYSTEM_PATH);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("neither is 'xdg-open'");
  });
});
