// Finding a checkpoint by id or name, within a workspace or across all, and a workspace's key (a
// destroyed one whose checkpoints were kept included); the errors say which workspace holds what.
import type { CheckpointStore } from "../../store/checkpoints.ts";
import { errors, NexusError } from "../errors.ts";
import type { WorkspaceService } from "../workspaces.ts";
import type { CheckpointRecord } from "./types.ts";

type Workspaces = Pick<WorkspaceService, "resolve" | "list">;

/** A checkpoint by id or name; with a workspace, the name is looked up among its checkpoints and an id must be one of them. */
export function resolveCheckpoint(store: CheckpointStore, workspaces: Workspaces, ref: string, workspaceRef?: string): CheckpointRecord {
  const ready = store.list().filter((c) => c.state === "ready");
  const ws = workspaceRef !== undefined ? workspaceKey(store, workspaces, workspaceRef) : undefined;
  const mine = (c: CheckpointRecord) => !ws || c.workspaceId === ws.id;
  const byId = ready.find((c) => c.id === ref);
  if (byId) {
    if (!mine(byId)) throw otherWorkspace(byId, ws!.name);
    return byId;
  }
  const named = ready.filter((c) => c.name === ref);
  const here = named.filter(mine);
  if (here.length === 1) return here[0]!;
  if (here.length > 1) {
    throw errors.invalidArgument(`Checkpoint name '${ref}' is used in ${here.length} workspaces: ${here.map((c) => c.workspaceName).join(", ")}`, "Give its id (see 'nexus checkpoint list <workspace>'), or the workspace too", {
      checkpoint: ref,
      ids: here.map((c) => c.id),
    });
  }
  if (named.length > 0) throw otherWorkspace(named[0]!, ws!.name);
  throw new NexusError("NOT_FOUND", `Checkpoint '${ref}' doesn't exist${ws ? ` in workspace '${ws.name}'` : ""}`, {
    suggestion: `Run 'nexus checkpoint list ${ws?.name ?? "<workspace>"}' to see the checkpoints`,
    details: { checkpoint: ref, ...(ws ? { workspaceName: ws.name } : {}) },
  });
}

/** A workspace's id and name; one destroyed with --keep-checkpoints is still found through its checkpoints. */
export function workspaceKey(store: CheckpointStore, workspaces: Workspaces, ref: string): { id: string; name: string } {
  try {
    const r = workspaces.resolve(ref);
    return { id: r.id, name: r.name };
  } catch (err) {
    const kept = store.list().find((c) => c.workspaceId === ref || c.workspaceName === ref);
    if (kept && !workspaces.list().some((w) => w.id === kept.workspaceId)) return { id: kept.workspaceId, name: kept.workspaceName };
    throw err;
  }
}

function otherWorkspace(c: CheckpointRecord, asked: string): NexusError {
  return errors.invalidArgument(
    `Checkpoint '${c.name}' (${c.id}) belongs to workspace '${c.workspaceName}', not '${asked}'`,
    `Restore it there ('nexus restore ${c.workspaceName} ${c.name}'), or start a new workspace from it ('nexus create <name> --from-checkpoint ${c.id}')`,
    { checkpoint: c.id, workspaceName: c.workspaceName },
  );
}

