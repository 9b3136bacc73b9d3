// A workspace's SSH host key pair in ~/.nexus (workspaces/<id>/ssh/), and its rotation.
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { generateEd25519, type KeyPair } from "../ssh/keys.ts";
import { writeFileAtomic } from "./atomic.ts";
import type { NexusPaths } from "./paths.ts";

function keyDir(paths: NexusPaths, workspaceId: string): string {
  return join(paths.workspaceDir(workspaceId), "ssh");
}

/** Makes and stores a new host key pair (`next_` for one that waits for its rotation). */
function writeNewKey(paths: NexusPaths, workspaceId: string, comment: string, prefix: "" | "next_"): KeyPair {
  const dir = keyDir(paths, workspaceId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pair = generateEd25519(comment);
  writeFileAtomic(join(dir, `${prefix}ssh_host_ed25519_key`), pair.privateKey, 0o600);
  writeFileAtomic(join(dir, `${prefix}ssh_host_ed25519_key.pub`), pair.publicKey + "\n", 0o644);
  return pair;
}

/** Makes and stores the workspace's host key pair. */
export function makeHostKey(paths: NexusPaths, workspaceId: string, comment: string): KeyPair {
  return writeNewKey(paths, workspaceId, comment, "");
}

export function readHostKey(paths: NexusPaths, workspaceId: string): KeyPair {
  const dir = keyDir(paths, workspaceId);
  return {
    privateKey: readFileSync(join(dir, "ssh_host_ed25519_key"), "utf8"),
    publicKey: readFileSync(join(dir, "ssh_host_ed25519_key.pub"), "utf8").trim(),
  };
}

/** The pinned public key, if the workspace has one on record. */
export function hostPublicKey(paths: NexusPaths, workspaceId: string): string | undefined {
  const file = join(keyDir(paths, workspaceId), "ssh_host_ed25519_key.pub");
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}

/** Makes the next host key beside the current one (ssh/next_*); `promoteNextHostKey` makes it current. */
export function makeNextHostKey(paths: NexusPaths, workspaceId: string, comment: string): KeyPair {
  return writeNewKey(paths, workspaceId, comment, "next_");
}

export function promoteNextHostKey(paths: NexusPaths, workspaceId: string): KeyPair {
  const dir = keyDir(paths, workspaceId);
  for (const suffix of ["", ".pub"]) renameSync(join(dir, `next_ssh_host_ed25519_key${suffix}`), join(dir, `ssh_host_ed25519_key${suffix}`));
  return readHostKey(paths, workspaceId);
}
