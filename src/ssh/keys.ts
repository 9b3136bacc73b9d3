import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import ssh2 from "ssh2";
import { writeFileAtomic } from "../store/atomic.ts";

export interface KeyPair {
  /** OpenSSH private key (PEM-like "OPENSSH PRIVATE KEY"). */
  privateKey: string;
  /** One authorized_keys / known_hosts line: "ssh-ed25519 AAAA... comment". */
  publicKey: string;
}

export function generateEd25519(comment: string): KeyPair {
  const pair = ssh2.utils.generateKeyPairSync("ed25519", { comment });
  return { privateKey: pair.private, publicKey: pair.public.trim() };
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

/** Loads a key pair from `path` and `path.pub`, making it first when missing. */
export function loadOrCreateKeyPair(path: string, comment: string): KeyPair {
  if (existsSync(path) && existsSync(`${path}.pub`)) {
    return { privateKey: readFileSync(path, "utf8"), publicKey: readFileSync(`${path}.pub`, "utf8").trim() };
  }
  const pair = generateEd25519(comment);
  writeFileAtomic(path, pair.privateKey, 0o600);
  writeFileAtomic(`${path}.pub`, pair.publicKey + "\n", 0o644);
  return pair;
}
