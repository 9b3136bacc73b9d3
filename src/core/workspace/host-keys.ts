// A workspace's SSH host key pair on the host (ssh/ under its folder), and its rotation.
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { generateEd25519, type KeyPair } from "../../ssh/keys.ts";
import { writeFileAtomic } from "../../store/atomic.ts";
import type { NexusPaths } from "../../store/paths.ts";
import type { WorkspaceRecord } from "../../kernel/types.ts";
import { workspaceNames } from "./names.ts";

type Owner = Pick<WorkspaceRecord, "id" | "name">;

function keyDir(paths: NexusPaths, r: Owner): string {
  return join(paths.workspaceDir(r.id), "ssh");
}

/** Makes and stores a new host key pair (`next_` for one that waits for its rotation). */
function writeNewKey(paths: NexusPaths, r: Owner, prefix: "" | "next_"): KeyPair {
  const dir = keyDir(paths, r);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pair = generateEd25519(workspaceNames(r.name, r.id).keyComment);
  writeFileAtomic(join(dir, `${prefix}ssh_host_ed25519_key`), pair.privateKey, 0o600);
  writeFileAtomic(join(dir, `${prefix}ssh_host_ed25519_key.pub`), pair.publicKey + "\n", 0o644);
  return pair;
}

/** Makes and stores the workspace's host key pair. */
export function makeHostKey(paths: NexusPaths, r: Owner): KeyPair {
  return writeNewKey(paths, r, "");
}

export function readHostKey(paths: NexusPaths, r: Owner): KeyPair {
  const dir = keyDir(paths, r);
  return {
    privateKey: readFileSync(join(dir, "ssh_host_ed25519_key"), "utf8"),
    publicKey: readFileSync(join(dir, "ssh_host_ed25519_key.pub"), "utf8").trim(),
  };
}

/** The pinned public key, if the workspace has one on record. */
export function hostPublicKey(paths: NexusPaths, r: Owner): string | undefined {
  const file = join(keyDir(paths, r), "ssh_host_ed25519_key.pub");
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}

/** Makes the next host key beside the current one (ssh/next_*); `promoteNextHostKey` makes it current. */
export function makeNextHostKey(paths: NexusPaths, r: Owner): KeyPair {
  return writeNewKey(paths, r, "next_");
}

export function promoteNextHostKey(paths: NexusPaths, r: Owner): KeyPair {
  const dir = keyDir(paths, r);
  for (const suffix of ["", ".pub"]) renameSync(join(dir, `next_ssh_host_ed25519_key${suffix}`), join(dir, `ssh_host_ed25519_key${suffix}`));
  return readHostKey(paths, r);
}
