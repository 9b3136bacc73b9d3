// The checkpoint RPCs (CreateCheckpoint, RestoreCheckpoint; ListCheckpoints, DeleteCheckpoint as extensions).
import { CreateCheckpointInput, RestoreCheckpointInput } from "../../core/checkpoints/inputs.ts";
import type { CheckpointService } from "../../core/checkpoints/service.ts";
import type { CheckpointView } from "../../core/checkpoints/types.ts";
import { NexusError } from "../../core/errors.ts";
import { parseInput } from "../../core/inputs.ts";
import type { WorkspaceStatus } from "../../core/types.ts";
import { statusEnum, timestamp } from "./mappers.ts";

import type { Checkpoint, CreateCheckpointRequest__Output, DeleteCheckpointRequest__Output, ListCheckpointsRequest__Output, ListCheckpointsResponse, Operation, RestoreCheckpointRequest__Output } from "./messages.ts";

export function toGrpcCheckpoint(c: CheckpointView): Checkpoint {
  return {
    id: c.id,
    name: c.name,
    description: c.description,
    createdAt: timestamp(c.createdAt),
    workspaceId: c.workspaceId,
    workspaceName: c.workspaceName,
    auto: c.auto,
    sizeBytes: c.sizeBytes,
    durationMs: c.durationMs,
    image: c.holds.container?.image ?? "",
    homeBytes: c.holds.home?.bytes ?? 0,
    worktreeRef: c.holds.worktree?.ref ?? "",
    worktreeHead: c.holds.worktree?.head ?? "",
    worktreeBranch: c.holds.worktree?.branch ?? "",
  };
}

function required(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") throw new NexusError("INVALID_ARGUMENT", `${field} is required`, { suggestion: `Set ${field}`, details: { field } });
  return value;
}

/** Handlers by method name; `unary` is the server's wrapper (auth, decoding, error mapping). */
export function checkpointHandlers(checkpoints: CheckpointService) {
  return {
    CreateCheckpoint: async (req: CreateCheckpointRequest__Output): Promise<Checkpoint> => {
      const input = parseInput(CreateCheckpointInput, Object.fromEntries(Object.entries({ name: req.name || undefined, description: req.description || undefined }).filter(([, v]) => v !== undefined)), "checkpoint request");
      return toGrpcCheckpoint(await checkpoints.create(required(req.workspaceId, "workspace_id"), input));
    },
    RestoreCheckpoint: async (req: RestoreCheckpointRequest__Output): Promise<Operation> => {
      const input = parseInput(RestoreCheckpointInput, req.workspaceId ? { workspaceId: req.workspaceId } : {}, "restore request");
      const r = await checkpoints.restore(required(req.checkpointId, "checkpoint_id"), input.workspaceId);
      return { id: `op-restore-${Date.now().toString(36)}`, workspaceId: r.workspaceId, type: "restore", done: true, status: statusEnum(r.status as WorkspaceStatus), message: r.message, durationMs: r.durationMs };
    },
    ListCheckpoints: async (req: ListCheckpointsRequest__Output): Promise<ListCheckpointsResponse> => ({ checkpoints: checkpoints.list(required(req.workspaceId, "workspace_id")).map(toGrpcCheckpoint) }),
    DeleteCheckpoint: async (req: DeleteCheckpointRequest__Output): Promise<Operation> => {
      const started = Date.now();
      const r = await checkpoints.delete(required(req.checkpointId, "checkpoint_id"), req.workspaceId || undefined);
      return { id: `op-delete-checkpoint-${Date.now().toString(36)}`, workspaceId: r.workspaceId, type: "delete-checkpoint", done: true, status: "WORKSPACE_STATUS_UNSPECIFIED", message: `Deleted checkpoint ${r.name} (${r.id})`, durationMs: Date.now() - started };
    },
  };
}
