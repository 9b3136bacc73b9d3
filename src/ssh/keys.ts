import { createHash, createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../store/atomic.ts";

export interface KeyPair {
  /** OpenSSH private key (PEM-like "OPENSSH PRIVATE KEY"). */
  privateKey: string;
  /** One authorized_keys / known_hosts line: "ssh-ed25519 AAAA... comment". */
  publicKey: string;
}

const ED25519 = "ssh-ed25519";
/** PKCS#8 DER of an Ed25519 private key (RFC 8410) up to its 32-byte seed. */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function generateEd25519(comment: string): KeyPair {
  return ed25519FromSeed(randomBytes(32), comment);
}

/**
 * The OpenSSH key pair of a 32-byte Ed25519 seed. We encode it ourselves: ssh2's generator strips
 * leading zero bytes from the public key, so one key in 256 came out 31 bytes long and unusable.
 */
export function ed25519FromSeed(seed: Uint8Array, comment: string): KeyPair {
  if (seed.length !== 32) throw new Error(`an Ed25519 seed is 32 bytes, not ${seed.length}`);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
  // JWK's x is the raw 32-byte point, whatever its first bytes are.
  const pub = Buffer.from(createPublicKey(key).export({ format: "jwk" }).x ?? "", "base64url");
  const blob = ed25519Blob(pub);
  return {
    privateKey: openSshPrivateKey(blob, sshString(ED25519), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)),
    publicKey: `${ED25519} ${blob.toString("base64")}${comment ? ` ${comment}` : ""}`,
  };
}

/** The wire blob of an Ed25519 public key: string "ssh-ed25519", string key (32 bytes). */
function ed25519Blob(pub: Uint8Array): Buffer {
  return Buffer.concat([sshString(ED25519), sshString(pub)]);
}

function sshString(data: string | Uint8Array): Buffer {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/** An unencrypted "openssh-key-v1" file (OpenSSH's PROTOCOL.key) holding one key. */
function openSshPrivateKey(publicBlob: Buffer, ...privateFields: Buffer[]): string {
  const check = randomBytes(4);
  let section = Buffer.concat([check, check, ...privateFields]);
  // Padded with 1, 2, 3, ... to the cipher's block size, 8 for "none".
  const pad = (8 - (section.length % 8)) % 8;
  section = Buffer.concat([section, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    sshString("none"), // cipher
    sshString("none"), // kdf
    sshString(""), // kdf options
    Buffer.from([0, 0, 0, 1]), // number of keys
    sshString(publicBlob),
    sshString(section),
  ]);
  const lines = body.toString("base64").match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** SHA256 fingerprint of a public key line, as `ssh-keygen -lf` prints it (base64, no padding). */
export function fingerprint(publicKeyLine: string): string {
  const blob = publicKeyLine.trim().split(/\s+/)[1];
  if (!blob) throw new Error("not an OpenSSH public key line");
  const digest = createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/** The raw key blob (wire format) of a public key line: what ssh2's host verifier receives. */
export function publicKeyBlob(publicKeyLine: string): Buffer {
  return Buffer.from(publicKeyLine.trim().split(/\s+/)[1] ?? "", "base64");
}

/** Whether a public key line is a well-formed ed25519 key (older Nexus versions could write 31-byte ones). */
export function isWellFormedEd25519(publicKeyLine: string): boolean {
  const [type] = publicKeyLine.trim().split(/\s+/);
  const blob = publicKeyBlob(publicKeyLine);
  return type === ED25519 && blob.length === 4 + ED25519.length + 4 + 32 && blob.equals(ed25519Blob(blob.subarray(-32)));
}

/** Loads a key pair from `path` and `path.pub`, making it first when missing or malformed. */
export function loadOrCreateKeyPair(path: string, comment: string): KeyPair {
  if (existsSync(path) && existsSync(`${path}.pub`)) {
    const stored = { privateKey: readFileSync(path, "utf8"), publicKey: readFileSync(`${path}.pub`, "utf8").trim() };
    if (isWellFormedEd25519(stored.publicKey)) return stored;
  }
  const pair = generateEd25519(comment);
  writeFileAtomic(path, pair.privateKey, 0o600);
  writeFileAtomic(`${path}.pub`, pair.publicKey + "\n", 0o644);
  return pair;
}
