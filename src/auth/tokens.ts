// The daemon token (~/.nexus/token, 0600, random) and JWTs signed with it (HS256, with exp). Every
// request over TCP carries one of them; the unix sockets rely on file permissions.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, readFileSync } from "node:fs";
import { sign, verify } from "hono/jwt";
import { NexusError } from "../kernel/errors.ts";
import { writeFileAtomic } from "../store/atomic.ts";

/** The daemon token, made at first start. */
export function ensureDaemonToken(file: string): string {
  if (existsSync(file)) {
    const token = readFileSync(file, "utf8").trim();
    if (token.length >= 32) {
      chmodSync(file, 0o600);
      return token;
    }
  }
  const token = randomBytes(32).toString("base64url");
  writeFileAtomic(file, `${token}\n`, 0o600);
  return token;
}

export function readDaemonToken(file: string): string | undefined {
  try {
    const t = readFileSync(file, "utf8").trim();
    return t === "" ? undefined : t;
  } catch {
    return undefined;
  }
}

/** A JWT signed with the daemon token, valid for ttlSeconds. */
export async function createJwt(daemonToken: string, ttlSeconds: number): Promise<{ token: string; expiresAt: string }> {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + Math.max(1, Math.floor(ttlSeconds));
  return { token: await sign({ sub: "nexus", iat: now, exp }, daemonToken, "HS256"), expiresAt: new Date(exp * 1000).toISOString() };
}

export function authFailed(message: string): NexusError {
  return new NexusError("AUTHENTICATION_FAILED", message, {
    suggestion: "Pass the daemon token (~/.nexus/token) or a JWT from 'nexus token create' with -t/--token or NEXUS_TOKEN",
  });
}

/** Checks a presented token: the daemon token itself, or an unexpired HS256 JWT signed with it. */
export async function verifyToken(presented: string | undefined, daemonToken: string): Promise<void> {
  if (!presented) throw authFailed("A token is required");
  const a = Buffer.from(presented);
  const b = Buffer.from(daemonToken);
  if (a.length === b.length && timingSafeEqual(a, b)) return;
  if (presented.split(".").length !== 3) throw authFailed("The token is not valid");
  let payload: { exp?: unknown };
  try {
    payload = (await verify(presented, daemonToken, "HS256")) as { exp?: unknown };
  } catch (err) {
    const expired = (err as Error).name === "JwtTokenExpired";
    throw authFailed(expired ? "The token has expired" : "The token is not valid");
  }
  if (typeof payload.exp !== "number") throw authFailed("The token has no expiry (exp)");
}

/** The token of an `Authorization: Bearer <token>` header value. */
export function bearer(header: string | undefined | null): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m?.[1];
}
