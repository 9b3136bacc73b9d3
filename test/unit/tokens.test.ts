import { describe, expect, test } from "bun:test";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sign } from "hono/jwt";
import { bearer, createJwt, ensureDaemonToken, verifyToken } from "../../src/auth/tokens.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { rejectionOf as rejection } from "../helpers/errors.ts";

describe("daemon token", () => {
  test("made once, 0600, random, then reused", async () => {
    await using dir = tempDir("tok");
    const file = join(dir.path, "token");
    const a = ensureDaemonToken(file);
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(ensureDaemonToken(file)).toBe(a);
    await using dir2 = tempDir("tok");
    expect(ensureDaemonToken(join(dir2.path, "token"))).not.toBe(a);
  });

  test("a too short token file is replaced", async () => {
    await using dir = tempDir("tok");
    const file = join(dir.path, "token");
    writeFileSync(file, "short\n");
    expect(ensureDaemonToken(file)).not.toBe("short");
  });
});

describe("verifyToken", () => {
  const key = "k".repeat(43);
  test("the daemon token and a fresh JWT pass", async () => {
    await verifyToken(key, key);
    await verifyToken((await createJwt(key, 60)).token, key);
  });

  test("missing, wrong, expired, exp-less and foreign-key tokens are AUTHENTICATION_FAILED", async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases = [
      undefined,
      "wrong",
      key + "x",
      await sign({ exp: now - 1 }, key, "HS256"),
      await sign({ sub: "nexus" }, key, "HS256"),
      await sign({ exp: now + 60 }, "another-key-of-enough-length-0123456789", "HS256"),
      "a.b.c",
    ];
    for (const t of cases) {
      const e = await rejection(verifyToken(t, key));
      expect(e.code).toBe("AUTHENTICATION_FAILED");
    }
    expect((await rejection(verifyToken(await sign({ exp: now - 1 }, key, "HS256"), key))).message).toContain("expired");
  });

  test("bearer() reads Authorization headers", () => {
    expect(bearer("Bearer abc")).toBe("abc");
    expect(bearer("bearer  abc ")).toBe("abc");
    expect(bearer("Basic abc")).toBeUndefined();
    expect(bearer(undefined)).toBeUndefined();
  });
});
