// Reading secrets on the host (config.yaml's `secrets:`): dotenv files, and named secrets from a file,
// the keychain or a command. Each read is fresh (nothing is cached on disk); a secret that cannot be
// read is an error naming it, never an empty value.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { NexusError } from "../kernel/errors.ts";
import type { NamedSecret, SecretsConfig } from "../config/sections.ts";
import { parseDotenv } from "./dotenv.ts";

export interface ReadOptions {
  /** The user's home, for `~/` in paths. */
  home: string;
  /** process.platform: which keychain tool to ask. */
  platform?: string;
  /** How long a keychain lookup or a command may take. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function expandHome(path: string, home: string): string {
  return path === "~" ? home : path.startsWith("~/") ? `${home}${path.slice(1)}` : path;
}

/** Whether any secret is configured (no read, no workspace change without one). */
export function hasSecrets(s: SecretsConfig): boolean {
  return s.env_files.length > 0 || Object.keys(s.named).length > 0;
}

/** The argv that reads a keychain item: macOS `security`, elsewhere libsecret's `secret-tool`. */
export function keychainArgv(platform: string, service: string, account: string): string[] {
  return platform === "darwin"
    ? ["security", "find-generic-password", "-s", service, "-a", account, "-w"]
    : ["secret-tool", "lookup", "service", service, "account", account];
}

/** How a secret's source is named in messages (never its value). */
export function describeSource(s: NamedSecret): string {
  switch (s.source) {
    case "file":
      return `file ${s.path}`;
    case "keychain":
      return `keychain service ${s.service}, account ${s.account}`;
    case "command":
      return `command '${s.command}'`;
  }
}

function unreadable(name: string, what: string, reason: string, suggestion: string, extra: Record<string, unknown> = {}): NexusError {
  return new NexusError("INVALID_ARGUMENT", `Secret ${name} (${what}) could not be read: ${reason}`, {
    suggestion,
    details: { secret: name, ...extra },
  });
}

/** One trailing newline is the file's or the command's, not the secret's. */
function chomp(s: string): string {
  return s.replace(/\r?\n$/, "");
}

function run(argv: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; error?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, maxBuffer: 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      const err = error as (NodeJS.ErrnoException & { code?: string | number; killed?: boolean }) | null;
      resolve({ code: err ? (typeof err.code === "number" ? err.code : err.killed ? null : -1) : 0, stdout, stderr, ...(err ? { error: err } : {}) });
    });
  });
}

/** One named secret's value. */
export async function readNamedSecret(name: string, s: NamedSecret, opts: ReadOptions): Promise<string> {
  const what = describeSource(s);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let value: string;
  switch (s.source) {
    case "file": {
      const path = expandHome(s.path, opts.home);
      try {
        value = chomp(await readFile(path, "utf8"));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw unreadable(name, what, e.code === "ENOENT" ? `${path} does not exist` : e.code === "EACCES" ? `${path} is not readable by this user` : e.message, `Create ${path} or fix secrets.named.${name}.path in config.yaml`, { path });
      }
      break;
    }
    case "keychain": {
      const argv = keychainArgv(opts.platform ?? process.platform, s.service, s.account);
      const r = await run(argv, timeoutMs);
      if (r.error?.code === "ENOENT") {
        throw unreadable(name, what, `${argv[0]} is not installed`, argv[0] === "secret-tool" ? "Install libsecret's secret-tool (Debian: apt-get install libsecret-tools) and a keyring (gnome-keyring, KeePassXC)" : "macOS's security tool is missing", { command: argv.join(" ") });
      }
      if (r.code !== 0) {
        const why = r.code === null ? `${argv[0]} took longer than ${timeoutMs / 1000} s` : `${argv.join(" ")} exited ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim().split("\n").slice(-1)[0]}` : " (no such item, or the keyring is locked)"}`;
        throw unreadable(name, what, why, "Add the item to your keychain (secret-tool store --label=… service S account A, or security add-generic-password -s S -a A -w) and unlock the keyring", { command: argv.join(" ") });
      }
      value = chomp(r.stdout);
      break;
    }
    case "command": {
      const r = await run(["/bin/sh", "-c", s.command], timeoutMs);
      if (r.code !== 0) {
        const why = r.code === null ? `it took longer than ${timeoutMs / 1000} s` : `it exited ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim().split("\n").slice(-1)[0]}` : ""}`;
        throw unreadable(name, what, why, `Run the command yourself to see why; fix secrets.named.${name}.command in config.yaml`, { command: s.command });
      }
      value = chomp(r.stdout);
      break;
    }
  }
  if (value === "") throw unreadable(name, what, "it is empty", "A secret is never passed on empty: give it a value, or remove it from config.yaml");
  return value;
}

/** Every secret: dotenv files first (in order), then named secrets (they win). */
export async function readSecrets(s: SecretsConfig, opts: ReadOptions): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of s.env_files) {
    const path = expandHome(file, opts.home);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new NexusError("INVALID_ARGUMENT", `Secrets file ${path} (secrets.env_files) could not be read: ${e.code === "ENOENT" ? "it does not exist" : e.message}`, {
        suggestion: `Create ${path} or remove it from secrets.env_files in config.yaml`,
        details: { envFile: path },
      });
    }
    const { values, errors } = parseDotenv(text);
    if (errors.length > 0) {
      const first = errors[0]!;
      throw new NexusError("INVALID_ARGUMENT", `Secrets file ${path}:${first.line}: ${first.message}`, {
        suggestion: `Fix line ${first.line} of ${path} (KEY=value, one per line)`,
        details: { envFile: path, line: first.line },
      });
    }
    Object.assign(out, values);
  }
  const named = await Promise.all(Object.entries(s.named).map(async ([name, secret]) => [name, await readNamedSecret(name, secret, opts)] as const));
  for (const [name, value] of named) out[name] = value;
  return out;
}
