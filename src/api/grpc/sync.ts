// The file sync RPCs (GetSyncStatus, PauseSync, ResumeSync, FlushSync, ListConflicts, ResolveConflict).
import { NexusError } from "../../kernel/errors.ts";
import { parseInput } from "../../core/inputs.ts";
import { ResolveConflictInput, type SyncService } from "../../core/sync/service.ts";
import type { SyncStatusView } from "../../sync/types.ts";
import { timestamp } from "./mappers.ts";

import type { FlushSyncRequest__Output, FlushSyncResponse, GetSyncStatusRequest__Output, ListConflictsRequest__Output, ListConflictsResponse, PauseSyncRequest__Output, ResolveConflictRequest__Output, ResumeSyncRequest__Output, ResolveConflictResponse, SyncState, SyncStatus } from "./messages.ts";

export function toGrpcSyncStatus(s: SyncStatusView): SyncStatus {
  return {
    sessionId: s.sessionId ?? "",
    provider: s.provider,
    state: `SYNC_STATE_${s.status.toUpperCase()}` as SyncState,
    stats: s.stats,
    lastSyncAt: timestamp(s.lastSyncAt),
    errorMessage: s.error ?? "",
  };
}

function workspaceId(req: { workspaceId: string }): string {
  if (typeof req.workspaceId !== "string" || req.workspaceId === "") throw new NexusError("INVALID_ARGUMENT", "workspace_id is required", { suggestion: "Set workspace_id", details: { field: "workspace_id" } });
  return req.workspaceId;
}

/** resolution: the proto's alpha (host) | beta (workspace), or host | workspace as REST says it. */
const WINNERS: Record<string, string> = { alpha: "host", beta: "workspace", host: "host", workspace: "workspace" };

export function syncHandlers(sync: SyncService) {
  return {
    GetSyncStatus: (req: GetSyncStatusRequest__Output): SyncStatus => toGrpcSyncStatus(sync.status(workspaceId(req))),
    PauseSync: async (req: PauseSyncRequest__Output): Promise<SyncStatus> => toGrpcSyncStatus(await sync.pause(workspaceId(req))),
    ResumeSync: async (req: ResumeSyncRequest__Output): Promise<SyncStatus> => toGrpcSyncStatus(await sync.resume(workspaceId(req))),
    FlushSync: async (req: FlushSyncRequest__Output): Promise<FlushSyncResponse> => sync.flush(workspaceId(req), req.timeoutSeconds > 0 ? { timeoutSeconds: req.timeoutSeconds } : {}),
    ListConflicts: (req: ListConflictsRequest__Output): ListConflictsResponse => ({
      conflicts: sync.conflicts(workspaceId(req)).conflicts.map((c) => ({ path: c.path, alphaState: c.alphaState, betaState: c.betaState, detectedAt: timestamp(c.detectedAt), type: c.type, winner: c.winner ?? "", copyPath: c.copyPath ?? "" })),
    }),
    ResolveConflict: async (req: ResolveConflictRequest__Output): Promise<ResolveConflictResponse> => {
      const id = workspaceId(req);
      const input = parseInput(ResolveConflictInput, { path: req.path, winner: WINNERS[String(req.resolution ?? "")] ?? req.resolution }, "resolve request");
      return sync.resolveConflict(id, input);
    },
  };
}
