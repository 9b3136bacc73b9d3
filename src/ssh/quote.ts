// POSIX shell quoting: argv reaches the remote shell as the same words, whatever they contain.

export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_\-./=:@%+,]+$/.test(word)) return word;
  return `'${escapeSingleQuoted(word)}'`;
}

/** Text to stand between single quotes a caller writes itself (completion scripts). */
export function escapeSingleQuoted(text: string): string {
  return text.replace(/'/g, `'\\''`);
}

/** argv as one POSIX shell line. */
export function shellLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isEnvName(name: string): boolean {
  return ENV_NAME.test(name);
}

/** The remote command line for an exec: cd to cwd, set env, run argv, all quoted. */
export function buildCommandLine(argv: readonly string[], opts: { cwd?: string; env?: Record<string, string> } = {}): string {
  const parts: string[] = [];
  if (opts.cwd) parts.push(`cd ${shellQuote(opts.cwd)} &&`);
  parts.push("exec");
  const env = Object.entries(opts.env ?? {});
  if (env.length > 0) {
    parts.push("env");
    for (const [k, v] of env) parts.push(shellQuote(`${k}=${v}`));
  }
  for (const a of argv) parts.push(shellQuote(a));
  return parts.join(" ");
}

/** A command the exec agent may start without a shell: what buildCommandLine's line does, as data. */
export interface PlainCommand {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

/**
 * The plain form of an exec, when running it without a shell is sure to do what the line does:
 * an absolute, normalized folder (bash's cd would rewrite any other into PWD), variable names a
 * shell accepts, and no word `env` would read as an option or a variable. Otherwise undefined.
 */
export function plainCommand(argv: readonly string[], opts: { cwd: string; env?: Record<string, string> }): PlainCommand | undefined {
  const env = opts.env ?? {};
  const names = Object.keys(env);
  if (argv.length === 0 || argv[0] === "") return undefined;
  if (!opts.cwd.startsWith("/") || (opts.cwd !== "/" && (opts.cwd.endsWith("/") || opts.cwd.split("/").slice(1).some((p) => p === "" || p === "." || p === "..")))) return undefined;
  if (names.some((n) => !isEnvName(n))) return undefined;
  if (names.length > 0 && (argv[0]!.startsWith("-") || argv[0]!.includes("="))) return undefined;
  const words = [...argv, opts.cwd, ...names, ...Object.values(env)];
  if (words.some((w) => w.includes("\0"))) return undefined;
  return { argv: [...argv], cwd: opts.cwd, env: { ...env } };
}
