// What checkpoints (src/core/checkpoints/) add to create and destroy: the workspace service calls
// these and knows nothing else of checkpoints.
import type { WorkspaceRecord } from "../types.ts";

export interface CheckpointHooks {
  /** `create --from-checkpoint`: where the new workspace starts from, and how its parts are filled. */
  seed(ref: string): Promise<CheckpointSeed>;
  /** Destroy removes the workspace's checkpoints, unless asked to keep them. */
  workspaceDestroyed(r: WorkspaceRecord, keep: boolean): Promise<void>;
}

export interface CheckpointSeed {
  /** The engine the checkpoint's image is on (none: the local one); the new workspace is made there. */
  engine?: string;
  /** The repository and commit the checkpoint's worktree was taken on (none: the workspace had no git worktree). */
  repository?: string;
  head?: string;
  /**
   * The sudo the checkpoint's workspace ran with: the new workspace gets it, whatever the
   * checkpoint's .nexus/workspace.yaml (written inside) says (workspace/sudo.ts).
   */
  sudo: boolean;
  /** The original image the checkpoint's container ran on. */
  image: string;
  /** Container filesystem and home into the new (created, not started) container. */
  fillContainer(containerId: string): Promise<void>;
  /** The checkpoint's working files into the new worktree. */
  fillWorktree(path: string): Promise<void>;
}
