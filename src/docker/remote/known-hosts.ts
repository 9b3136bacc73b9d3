// The engine host's key against a known_hosts file (OpenSSH's format): the key must be listed for
// the host, never accepted because it is new. Plain and hashed (|1|salt|hash) host names, comma lists,
// `[host]:port` for a port other than 22, simple `*`/`?` patterns and negation; `@revoked` refuses the
// key; `@cert-authority` lines are not used (ssh2 offers no host certificates here).
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

export type HostKeyVerdict = { ok: true } | { ok: false; reason: "unknown" | "mismatch" | "revoked" | "unreadable"; detail: string };

/** The name OpenSSH looks a host up by. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp("^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$", "i");
  return re.test(name);
}

/** Does a known_hosts host field (comma list, possibly hashed) name `name`? Negated patterns win. */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return false;
    return createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64") === hash;
  }
  let matched = false;
  for (const p of field.split(",")) {
    if (p.startsWith("!")) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

/** Checks `key` (the raw public key blob the server offered) for host:port against the file's text. */
export function checkHostKey(text: string, host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  let listed = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    let fields = line.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]!.startsWith("@")) {
      marker = fields[0];
      fields = fields.slice(1);
    }
    if (fields.length < 3 || !hostFieldMatches(fields[0]!, name)) continue;
    const blob = Buffer.from(fields[2]!, "base64");
    if (marker === "@revoked") {
      if (blob.equals(key)) return { ok: false, reason: "revoked", detail: `the key of ${name} is marked @revoked` };
      continue;
    }
    if (marker !== undefined) continue;
    listed = true;
    if (blob.equals(key)) return { ok: true };
  }
  return listed
    ? { ok: false, reason: "mismatch", detail: `the key ${name} offered is not the one listed for it (it may have been reinstalled, or someone is in between)` }
    : { ok: false, reason: "unknown", detail: `${name} is not listed` };
}

export function checkHostKeyFile(file: string, host: string, port: number, key: Buffer): HostKeyVerdict {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return { ok: false, reason: "unreadable", detail: `${file} cannot be read: ${(err as Error).message}` };
  }
  return checkHostKey(text, host, port, key);
}
