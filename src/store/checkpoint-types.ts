// What a checkpoint is on disk (~/.nexus/checkpoints/<id>.json) and on the wire.
import type { RootfsChanges } from "../docker/checkpoints.ts";

export interface CheckpointRecord {
  id: string;
  name: string;
  description: string;
  workspaceId: string;
  workspaceName: string;
  /** The engine (config name) its image was committed on; absent: the local one. */
  engine?: string;
  createdAt: string;
  /** Taken by Nexus itself (before a restore), not asked for. */
  auto: boolean;
  /** "creating" until every part is written: reconcile removes one left so by a daemon that died. */
  state: "creating" | "ready";
  durationMs: number;
  container: {
    /** The committed image (nexus-checkpoint:<id>), always one layer on top of `baseImage`. */
    image: string;
    imageId: string;
    /** The workspace's original image (id), which the container always runs on. */
    baseImage: string;
    layerBytes: number;
    /**
     * What the commit changed against `baseImage`, as restore copies it in. Null until listed: a
     * checkpoint lists it after it is taken, from the committed image (image-listing.ts), and then
     * `exclude` (the paths left out: mounts, files the daemon writes) is what the listing drops.
     */
    changes: RootfsChanges | null;
    exclude?: string[];
  } | null;
  home: { file: string; bytes: number } | null;
  worktree: {
    repository: string;
    path: string;
    ref: string;
    commit: string;
    tree: string;
    indexTree: string | null;
    head: string | null;
    branch: string | null;
  } | null;
  /**
   * The workspace's own git dir (src/git/own-gitdir.ts): its index as a tar the engine read from the
   * container (null when it had none), and HEAD inside (a commit) as the last git sync read it (null
   * when unknown: a stopped workspace, or no repository). Absent in records of older daemons.
   */
  ownGit?: { indexFile: string | null; bytes: number; head: string | null };
  /**
   * The workspace ran with sudo (its record's `sudo`) when this was taken; a workspace made from it
   * gets the same. Absent in records of older daemons.
   */
  sudo?: boolean;
  /** Milliseconds per phase of the create (phases.ts); absent in records of older daemons. */
  phasesMs?: Record<string, number>;
}

/** A checkpoint as REST, gRPC and the CLI show it. */
export interface CheckpointView {
  id: string;
  name: string;
  description: string;
  workspaceId: string;
  workspaceName: string;
  createdAt: string;
  auto: boolean;
  durationMs: number;
  sizeBytes: number;
  holds: {
    /**
     * changedPaths and deletedPaths are null until the commit's changes are listed (moments after the
     * checkpoint is taken; `changesListed` false meanwhile): `?wait=true` (`--wait`) answers once they are.
     */
    container: { image: string; baseImage: string; changesListed: boolean; changedPaths: number | null; deletedPaths: number | null; bytes: number } | null;
    home: { bytes: number } | null;
    worktree: { ref: string; head: string | null; branch: string | null; untracked: true; ignored: false } | null;
  };
}

export function toCheckpointView(r: CheckpointRecord): CheckpointView {
  const container = r.container
    ? { image: r.container.image, baseImage: r.container.baseImage, changesListed: r.container.changes !== null, changedPaths: r.container.changes?.copy.length ?? null, deletedPaths: r.container.changes?.remove.length ?? null, bytes: r.container.layerBytes }
    : null;
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    workspaceId: r.workspaceId,
    workspaceName: r.workspaceName,
    createdAt: r.createdAt,
    auto: r.auto,
    durationMs: r.durationMs,
    sizeBytes: (r.container?.layerBytes ?? 0) + (r.home?.bytes ?? 0),
    holds: {
      container,
      home: r.home ? { bytes: r.home.bytes } : null,
      worktree: r.worktree ? { ref: r.worktree.ref, head: r.worktree.head, branch: r.worktree.branch, untracked: true, ignored: false } : null,
    },
  };
}

/** What restore answers. */
export interface RestoreResult {
  checkpoint: CheckpointView;
  /** The automatic checkpoint of the state the restore replaced. */
  safetyCheckpoint: CheckpointView;
  workspaceId: string;
  status: string;
  /** The branch had moved since the checkpoint: its files were put on the current HEAD. */
  headMoved: boolean;
  durationMs: number;
  message: string;
  /** Milliseconds per phase (an extension: auto-checkpoint, stop, re-create, files, switch, start, ...). */
  phasesMs?: Record<string, number>;
}
