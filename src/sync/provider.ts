// What a sync provider's session does; the manager holds one per attached workspace. A session is
// made from its persisted state, so a daemon started after a crash picks up where it was.
import type { SyncConfig } from "./config.ts";
import type { SyncConflict, SyncEndpoint, SyncProviderName, SyncSide, SyncStatusView } from "./types.ts";

/** In a session's folder: its next pass makes the workspace's tree equal to the worktree (SyncManager.mirrorNext). */
export const MIRROR_MARKER = "mirror-from-host";

/** What ~/.nexus/sync/<workspace id>/state.json holds (written atomically on every change). */
export interface PersistedSync {
  version: 1;
  workspaceId: string;
  provider: Exclude<SyncProviderName, "bind">;
  sessionId: string;
  hostPath: string;
  remotePath: string;
  endpoint: SyncEndpoint;
  config: SyncConfig;
  paused: boolean;
  conflicts: SyncConflict[];
  lastSyncAt: string | null;
  bytesTransferred: number;
  error: string | null;
}

/** What a session reports: the status view without the workspace it belongs to. */
export type SessionStatus = Omit<SyncStatusView, "workspaceId">;

export interface SyncSession {
  readonly state: PersistedSync;
  /** Starts watching and runs a full pass (both sides reconciled); rejects when the provider cannot run. */
  start(): Promise<void>;
  /** Stops watching; a running pass finishes first. */
  stop(): Promise<void>;
  pause(): Promise<void>;
  /** Watches again and catches up with what changed while paused. */
  resume(): Promise<void>;
  /** Returns once both sides agree (SYNC_PAUSED, SYNC_CONFLICT, SYNC_SESSION_FAILED otherwise). */
  flush(timeoutMs?: number): Promise<void>;
  status(): SessionStatus;
  resolve(path: string, winner: SyncSide): Promise<void>;
}

export interface SessionContext {
  /** The session's folder: ssh files, the provider's archives, the pids of its processes. */
  dir: string;
  save(): void;
  log(message: string): void;
  /** unison: false runs every pass through unison (no fast route; bench/sync.ts measures both). */
  fastRoute?: boolean;
  /** Where a pass's time went (bench/sync.ts): a phase and its milliseconds. */
  trace?: (phase: string, ms: number) => void;
}
