// The shapes of file sync as every surface sees them (spec §3.1 File Sync, §3.2 SyncStatus): the
// status, its stats and the conflicts; and what a caller hands the manager to keep two trees in step.
import type { SyncConfig } from "./config.ts";

/** Who keeps the worktree and the container's /workspace in step. `bind`: the same files (local engine). */
export type SyncProviderName = "bind" | "mutagen" | "unison";
/** The spec's SyncState, as REST writes it (gRPC: SYNC_STATE_<UPPER>). */
export type SyncState = "syncing" | "paused" | "error";
/** The side that wins a conflict. `host` is the worktree (mutagen's alpha), `workspace` the container (beta). */
export type SyncSide = "host" | "workspace";

export interface SyncStats {
  filesTotal: number;
  filesSynced: number;
  conflicts: number;
  bytesTransferred: number;
}

/** GET /workspaces/{id}/sync. */
export interface SyncStatusView {
  workspaceId: string;
  provider: SyncProviderName;
  status: SyncState;
  sessionId: string | null;
  stats: SyncStats;
  lastSyncAt: string | null;
  error: string | null;
}

/** One conflict (GET /workspaces/{id}/sync/conflicts). Both versions are kept: see `copyPath`. */
export interface SyncConflict {
  path: string;
  /** edit-edit, edit-delete, delete-edit, create-create. */
  type: string;
  /** The host's (alpha) and the workspace's (beta) change: modified, created, deleted. */
  alphaState: string;
  betaState: string;
  detectedAt: string;
  /** Extension: the side whose version now sits at `path` (the conflict strategy's), or null when neither was chosen (both kept in place). */
  winner: SyncSide | null;
  /** Extension: where the other side's version is kept (relative path, on both sides), or null. */
  copyPath: string | null;
}

/** How the host reaches the container's sshd (the workspace's own key and pinned host key). */
export interface SyncEndpoint {
  host: string;
  port: number;
  user: string;
  identityFile: string;
  knownHosts: string;
  /** The name the host key is pinned under in knownHosts (e.g. nexus-<name>); default [host]:port. */
  hostKeyAlias?: string;
}

export interface AttachOptions {
  /** The worktree on this machine. */
  hostPath: string;
  /** The tree inside the container; default /workspace. */
  remotePath?: string;
  endpoint: SyncEndpoint;
  config: SyncConfig;
}
