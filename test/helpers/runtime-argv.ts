// Command lines that run code under the runtime running the tests (the unit suite runs under Bun and
// under Deno: scripts/test-deno.sh). Bun: `bun -e code`, `bun file`; Deno: `deno eval code`, `deno run -A file`.
const underDeno = "Deno" in globalThis;

/** argv (program first) that evaluates `code` (an ES module body) in a fresh process of this runtime. */
export function evalArgv(code: string): [string, string[]] {
  return underDeno ? [process.execPath, ["eval", code]] : [process.execPath, ["-e", code]];
}

/** argv (program first) that runs the script `file` in a fresh process of this runtime. */
export function runFileArgv(file: string): [string, string[]] {
  return underDeno ? [process.execPath, ["run", "-A", file]] : [process.execPath, [file]];
}
