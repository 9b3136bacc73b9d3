import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { ed25519FromSeed, fingerprint, generateEd25519, isWellFormedEd25519, loadOrCreateKeyPair, publicKeyBlob } from "../../src/ssh/keys.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

/** Many keys, so that the one in 256 whose public key starts with a zero byte is almost surely among them. */
const KEYS = 200;

/** Seeds whose public key starts with 1 and 2 zero bytes (found once by searching sha256("nexus-seed-<i>")). */
const SEED_INDEX_BY_ZEROS: Record<number, number> = { 1: 72, 2: 60752 };

function seedWithLeadingZeros(zeros: number): Buffer {
  return createHash("sha256").update(`nexus-seed-${SEED_INDEX_BY_ZEROS[zeros]}`).digest();
}

function sshKeygen(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("ssh-keygen", args, { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("generateEd25519", () => {
  test("makes an OpenSSH ed25519 key pair with the comment", () => {
    const pair = generateEd25519("nexus-test");
    expect(pair.privateKey).toContain("-----BEGIN OPENSSH PRIVATE KEY-----");
    expect(pair.publicKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ nexus-test$/);
    expect(pair.publicKey).not.toContain("\n");
  });

  test("ssh-keygen reads every key of many: the public line and the private file", async () => {
    await using dir = tempDir("keys");
    for (let i = 0; i < KEYS; i++) {
      const pair = generateEd25519(`key-${i}`);
      const file = join(dir.path, `k${i}`);
      writeFileSync(file, pair.privateKey, { mode: 0o600 });
      const r = sshKeygen("-y", "-f", file);
      expect({ i, status: r.status, stderr: r.stderr, pub: r.stdout.trim() }).toEqual({ i, status: 0, stderr: "", pub: pair.publicKey });
    }
  });

  test("a public key that starts with zero bytes keeps all 32 bytes, in both halves", async () => {
    await using dir = tempDir("keys");
    for (const zeros of [1, 2]) {
      const pair = ed25519FromSeed(seedWithLeadingZeros(zeros), "zero");
      const blob = publicKeyBlob(pair.publicKey);
      expect(blob.length).toBe(4 + 11 + 4 + 32);
      expect([...blob.subarray(-32, -32 + zeros + 1)].map((b) => b === 0)).toEqual([...Array(zeros).fill(true), false]);
      expect(isWellFormedEd25519(pair.publicKey)).toBe(true);
      const file = join(dir.path, `zero${zeros}`);
      writeFileSync(file, pair.privateKey, { mode: 0o600 });
      writeFileSync(`${file}.pub`, pair.publicKey + "\n");
      expect(sshKeygen("-y", "-f", file)).toEqual({ status: 0, stdout: pair.publicKey + "\n", stderr: "" });
      expect(sshKeygen("-l", "-E", "sha256", "-f", `${file}.pub`).stdout.split(" ")[1]).toBe(fingerprint(pair.publicKey));
    }
  });

  test("the same seed gives the same public key; a seed of another length is refused", () => {
    const seed = createHash("sha256").update("fixed").digest();
    expect(ed25519FromSeed(seed, "a").publicKey.split(" ")[1]).toBe(ed25519FromSeed(seed, "b").publicKey.split(" ")[1]);
    expect(() => ed25519FromSeed(seed.subarray(1), "x")).toThrow(/32 bytes/);
  });

  test("makes a different key every time", () => {
    expect(generateEd25519("a").publicKey).not.toBe(generateEd25519("a").publicKey);
  });

  test("ssh-keygen accepts the private key and derives the same public key", async () => {
    await using dir = tempDir("keys");
    const pair = generateEd25519("nexus-test");
    const file = join(dir.path, "id_ed25519");
    writeFileSync(file, pair.privateKey, { mode: 0o600 });
    const r = sshKeygen("-y", "-f", file);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split(/\s+/).slice(0, 2)).toEqual(pair.publicKey.split(" ").slice(0, 2));
  });
});

describe("fingerprint", () => {
  test("equals what ssh-keygen -lf prints", async () => {
    await using dir = tempDir("keys");
    for (let i = 0; i < KEYS; i++) {
      const pair = generateEd25519(`key-${i}`);
      const file = join(dir.path, `k${i}.pub`);
      writeFileSync(file, pair.publicKey + "\n");
      const r = sshKeygen("-l", "-E", "sha256", "-f", file);
      // "256 SHA256:xxxx key-0 (ED25519)"
      expect({ i, status: r.status, fp: r.stdout.split(" ")[1] }).toEqual({ i, status: 0, fp: fingerprint(pair.publicKey) });
    }
  });

  test("equals ssh-keygen for an RSA key made by ssh-keygen itself", async () => {
    await using dir = tempDir("keys");
    const file = join(dir.path, "rsa");
    expect(sshKeygen("-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "rsa-test", "-f", file).status).toBe(0);
    const pub = readFileSync(`${file}.pub`, "utf8");
    expect(sshKeygen("-l", "-f", `${file}.pub`).stdout.split(" ")[1]).toBe(fingerprint(pub));
  });

  test("has no base64 padding and ignores the comment and surrounding space", () => {
    const pair = generateEd25519("c1");
    const fp = fingerprint(pair.publicKey);
    expect(fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const [type, blob] = pair.publicKey.split(" ");
    expect(fingerprint(`  ${type} ${blob} other comment\n`)).toBe(fp);
    expect(fingerprint(`${type} ${blob}`)).toBe(fp);
  });

  test("refuses a line that is not a public key", () => {
    expect(() => fingerprint("")).toThrow(/not an OpenSSH public key/);
    expect(() => fingerprint("ssh-ed25519")).toThrow(/not an OpenSSH public key/);
  });
});

describe("publicKeyBlob", () => {
  test("is the decoded wire blob, starting with the key type", () => {
    const pair = generateEd25519("x");
    const blob = publicKeyBlob(pair.publicKey);
    expect(blob.readUInt32BE(0)).toBe("ssh-ed25519".length);
    expect(blob.subarray(4, 4 + 11).toString()).toBe("ssh-ed25519");
    expect(blob.length).toBe(4 + 11 + 4 + 32);
  });
});

describe("loadOrCreateKeyPair", () => {
  test("creates the pair with private 0600 and public 0644, then loads the same pair", async () => {
    await using dir = tempDir("keys");
    const path = join(dir.path, "sub", "id_ed25519");
    const made = loadOrCreateKeyPair(path, "daemon@test");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}.pub`).mode & 0o777).toBe(0o644);
    expect(readFileSync(`${path}.pub`, "utf8")).toBe(made.publicKey + "\n");
    expect(made.publicKey.endsWith(" daemon@test")).toBe(true);
    const loaded = loadOrCreateKeyPair(path, "ignored");
    expect(loaded).toEqual(made);
    expect(sshKeygen("-y", "-f", path).stdout.split(" ").slice(0, 2)).toEqual(made.publicKey.split(" ").slice(0, 2));
  });

  test("re-creates a malformed pair (a 31-byte public key, as ssh2's generator made one time in 256)", async () => {
    await using dir = tempDir("keys");
    const path = join(dir.path, "id_ed25519");
    const good = ed25519FromSeed(seedWithLeadingZeros(1), "old");
    const [type, b64] = good.publicKey.split(" ");
    const blob = publicKeyBlob(good.publicKey);
    const short = Buffer.concat([Buffer.from([0, 0, 0, 11]), blob.subarray(4, 15), Buffer.from([0, 0, 0, 31]), blob.subarray(-31)]);
    const broken = `${type} ${short.toString("base64")} old`;
    expect(b64).not.toBe(short.toString("base64"));
    expect(isWellFormedEd25519(broken)).toBe(false);
    writeFileSync(path, good.privateKey, { mode: 0o600 });
    writeFileSync(`${path}.pub`, broken + "\n");
    const pair = loadOrCreateKeyPair(path, "new");
    expect(isWellFormedEd25519(pair.publicKey)).toBe(true);
    expect(pair.publicKey.endsWith(" new")).toBe(true);
    expect(readFileSync(`${path}.pub`, "utf8").trim()).toBe(pair.publicKey);
    expect(sshKeygen("-y", "-f", path).stdout.trim()).toBe(pair.publicKey);
  });

  test("re-creates the pair when the public half is missing", async () => {
    await using dir = tempDir("keys");
    const path = join(dir.path, "id_ed25519");
    const first = loadOrCreateKeyPair(path, "x");
    (await import("node:fs")).rmSync(`${path}.pub`);
    const second = loadOrCreateKeyPair(path, "x");
    expect(second.publicKey).not.toBe(first.publicKey);
    expect(readFileSync(`${path}.pub`, "utf8").trim()).toBe(second.publicKey);
  });
});
