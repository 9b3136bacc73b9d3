// Completion scripts are derived from the cac definitions: every command and flag the CLI has
// appears, and bash accepts and runs the bash script.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
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
    expect(complete(bash, ["create", "--from"])).toEqual(["--from-branch"]);
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
