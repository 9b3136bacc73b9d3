// A workspace's SSH host key pair in ~/.nexus (workspaces/<id>/ssh/), and its rotation.
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { generateEd25519, type KeyPair } from "../ssh/keys.ts";
import { writeFileAtomic } from "./atomic.ts";
import type { NexusPaths } from "./paths.ts";

/**
 * The daemon's one reader and writer of the host keys. The pinned public key is asked for on every
 * exec (the SSH target), so it is kept in memory once read or made, and replaced when a key is made
 * or promoted here.
 */
export class HostKeys {
  readonly #paths: NexusPaths;
  readonly #pinned = new Map<string, string>();

  constructor(paths: NexusPaths) {
    this.#paths = paths;
  }

  #dir(workspaceId: string): string {
    return join(this.#paths.workspaceDir(workspaceId), "ssh");
  }

  /** Makes and stores a new host key pair (`next_` for one that waits for its rotation). */
  #writeNew(workspaceId: string, comment: string, prefix: "" | "next_"): KeyPair {
    const dir = this.#dir(workspaceId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pair = generateEd25519(comment);
    writeFileAtomic(join(dir, `${prefix}ssh_host_ed25519_key`), pair.privateKey, 0o600);
    writeFileAtomic(join(dir, `${prefix}ssh_host_ed25519_key.pub`), pair.publicKey + "\n", 0o644);
    return pair;
  }

  /** Makes and stores the workspace's host key pair. */
  make(workspaceId: string, comment: string): KeyPair {
    const pair = this.#writeNew(workspaceId, comment, "");
    this.#pinned.set(workspaceId, pair.publicKey.trim());
    return pair;
  }

  read(workspaceId: string): KeyPair {
    const dir = this.#dir(workspaceId);
    return {
      privateKey: readFileSync(join(dir, "ssh_host_ed25519_key"), "utf8"),
      publicKey: readFileSync(join(dir, "ssh_host_ed25519_key.pub"), "utf8").trim(),
    };
  }

  /** The pinned public key, if the workspace has one on record (a missing one is looked for again next time). */
  publicKey(workspaceId: string): string | undefined {
    const known = this.#pinned.get(workspaceId);
    if (known !== undefined) return known;
    const file = join(this.#dir(workspaceId), "ssh_host_ed25519_key.pub");
    if (!existsSync(file)) return undefined;
    const key = readFileSync(file, "utf8").trim();
    this.#pinned.set(workspaceId, key);
    return key;
  }

  /** Makes the next host key beside the current one (ssh/next_*); `promoteNext` makes it current. */
  makeNext(workspaceId: string, comment: string): KeyPair {
    return this.#writeNew(workspaceId, comment, "next_");
  }

  promoteNext(workspaceId: string): KeyPair {
    const dir = this.#dir(workspaceId);
    // Forgotten first: a rename that fails half way leaves the files to say which key is pinned.
    this.#pinned.delete(workspaceId);
    for (const suffix of ["", ".pub"]) renameSync(join(dir, `next_ssh_host_ed25519_key${suffix}`), join(dir, `ssh_host_ed25519_key${suffix}`));
    const pair = this.read(workspaceId);
    this.#pinned.set(workspaceId, pair.publicKey);
    return pair;
  }

  /** The workspace is gone (its folder with it). */
  forget(workspaceId: string): void {
    this.#pinned.delete(workspaceId);
  }
}
