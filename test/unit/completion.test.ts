// Completion scripts are derived from the cac definitions: every command and flag the CLI has
// appears, and bash accepts and runs the bash script.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");

function nexus(...args: string[]) {
  const r = spawnSync(BUN, [join(ROOT, "src/main.ts"), ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What bash's completion function offers for a partial command line. */
function complete(script: string, line: string[]): string[] {
  const cword = line.length - 1;
  const words = line.map((w) => `'${w}'`).join(" ");
  const r = spawnSync("bash", ["-c", `${script}\nCOMP_WORDS=(nexus ${words}); COMP_CWORD=${cword + 1}; _nexus; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.split("\n").filter(Boolean);
}

describe("nexus completion", () => {
  const bash = nexus("completion", "bash").stdout;

  test("bash -n accepts the bash script, and it registers the function", () => {
    const r = spawnSync("bash", ["-n"], { input: bash, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(bash).toContain("complete -o default -F _nexus nexus");
  });

  test("bash completes commands, their flags and their actions", () => {
    expect(complete(bash, ["cre"])).toEqual(["create"]);
    expect(complete(bash, ["do"])).toEqual(["doctor"]);
    expect(complete(bash, ["create", "--from-b"])).toEqual(["--from-branch"]);
    expect(complete(bash, ["create", "--from"])).toEqual(["--from-branch", "--from-checkpoint"]);
    expect(complete(bash, ["daemon", "ins"])).toEqual(["install"]);
    expect(complete(bash, ["ls", "--st"])).toEqual(["--status"]);
    expect(complete(bash, ["status", "--js"])).toEqual(["--json"]);
  });

  test("every command and every flag of 'nexus --help' appears in all three scripts", () => {
    const help = nexus("--help").stdout;
    const commands = [...help.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]!);
    expect(commands).toContain("create");
    expect(commands).toContain("completion");
    const zsh = nexus("completion", "zsh").stdout;
    const fish = nexus("completion", "fish").stdout;
    for (const c of commands) {
      expect(bash).toContain(c);
      expect(zsh).toContain(`'${c}:`);
      expect(fish).toContain(`-a ${c} `);
    }
    const createFlags = [...nexus("create", "--help").stdout.matchAll(/--([a-z-]+)/g)].map((m) => m[1]!);
    expect(createFlags).toContain("from-branch");
    for (const f of createFlags) {
      expect(bash).toContain(`--${f}`);
      expect(fish).toContain(`-l ${f}`);
    }
  });

  test("zsh accepts its script when zsh is installed", () => {
    if (spawnSync("sh", ["-c", "command -v zsh"]).status !== 0) return;
    const r = spawnSync("zsh", ["-n"], { input: nexus("completion", "zsh").stdout, encoding: "utf8" });
    expect(r.status).toBe(0);
  });

  test("an unknown shell is a usage error", () => {
    const r = nexus("completion", "tcsh");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("No completion for shell 'tcsh'");
  });
});

describe("workspace names", () => {
  test("bash completes the workspaces of NEXUS_HOME for commands that take one, 'nexus workspace <verb>' too", async () => {
    const { mkdirSync, writeFileSync, chmodSync, mkdtempSync, rmSync } = await import("node:fs");
    const dir = mkdtempSync(join(process.env.NEXUS_TEST_ROOT ?? "/tmp", "compl-"));
    try {
      const home = join(dir, "nx");
      // Records as the daemon writes them (only the name is read).
      for (const [id, name] of [["ws-a1", "alpha"], ["ws-b2", "beta"]] as const) {
        mkdirSync(join(home, "workspaces", id), { recursive: true });
        writeFileSync(join(home, "workspaces", id, "workspace.json"), JSON.stringify({ id, name }));
      }
      mkdirSync(join(dir, "bin"));
      writeFileSync(join(dir, "bin", "nexus"), `#!/bin/sh\nexec '${BUN}' '${join(ROOT, "src/main.ts")}' "$@"\n`);
      chmodSync(join(dir, "bin", "nexus"), 0o755);
      const env = `export NEXUS_HOME='${home}' PATH='${join(dir, "bin")}':"$PATH"`;
      const withEnv = `${env}\n${nexus("completion", "bash").stdout}`;
      expect(nexus("completion", "workspaces").code).toBe(0);
      expect(complete(withEnv, ["exec", ""]).filter((w) => !w.startsWith("-"))).toEqual(["alpha", "beta"]);
      expect(complete(withEnv, ["status", "al"])).toEqual(["alpha"]);
      expect(complete(withEnv, ["workspace", "stop", "b"])).toEqual(["beta"]);
      expect(complete(withEnv, ["workspace", "sta"])).toEqual(["status", "start"]);
      expect(complete(withEnv, ["create", "al"])).toEqual([]); // create takes a new name
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("help", () => {
  test("--no-x flags do not say '(default: true)'; 'nexus workspace --help' is the workspace group's help", () => {
    const create = nexus("create", "--help").stdout;
    expect(create).toContain("--no-worktree");
    expect(create).not.toContain("(default: true)");
    expect(nexus("start", "--help").stdout).not.toContain("(default: true)");
    const ws = nexus("workspace", "--help");
    expect(ws.code).toBe(0);
    expect(ws.stdout).toContain("$ nexus workspace <create|list|");
    expect(ws.stdout).toContain("nexus workspace create feature-auth");
    expect(nexus("--help").stdout).toMatch(/^ {2}workspace \[verb\] +The workspace commands/m);
    expect(nexus("workspace", "exec", "--help").stdout).toContain("Run a command in the workspace");
  });
});
