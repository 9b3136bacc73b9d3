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
