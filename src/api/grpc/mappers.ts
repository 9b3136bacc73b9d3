import { errors } from "../../core/errors.ts";
// Domain shapes ⇄ the proto's messages (plain objects as @grpc/proto-loader gives and takes them).
import { WORKSPACE_STATUSES, type WorkspaceRecord, type WorkspaceStatus, type WorkspaceStatusView, type WorkspaceView } from "../../core/types.ts";
import type { WorkspaceStats } from "../../core/monitor.ts";
import type { BackendType, ResourceStats, Workspace, WorkspaceStatus as GrpcWorkspaceStatus, WorkspaceStatusResponse } from "./messages.ts";

export interface Timestamp {
  seconds: number;
  nanos: number;
}

export function timestamp(iso: string | null | undefined): Timestamp | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return null;
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

export function statusEnum(s: WorkspaceStatus): GrpcWorkspaceStatus {
  return `WORKSPACE_STATUS_${s.toUpperCase() as Uppercase<WorkspaceStatus>}`;
}

function backendEnum(b: string): BackendType {
  return `BACKEND_TYPE_${b.toUpperCase()}` as BackendType;
}

/** The domain status for a proto enum name; undefined for UNSPECIFIED (no filter). */
export function statusFromEnum(e: GrpcWorkspaceStatus | number | undefined): WorkspaceStatus | undefined {
  // An enum number the proto does not name arrives as a number: bad input, said as such (never a JS error).
  if (e !== undefined && typeof e !== "string") throw errors.invalidArgument(`status: unknown WorkspaceStatus value ${String(e)}`, "Use one of the WorkspaceStatus values of the proto");
  if (!e || e === "WORKSPACE_STATUS_UNSPECIFIED") return undefined;
  const s = e.replace(/^WORKSPACE_STATUS_/, "").toLowerCase();
  return (WORKSPACE_STATUSES as readonly string[]).includes(s) ? (s as WorkspaceStatus) : (s as WorkspaceStatus);
}

export function backendFromEnum(e: BackendType | number | undefined): string | undefined {
  if (e !== undefined && typeof e !== "string") throw errors.invalidArgument(`backend: unknown BackendType value ${String(e)}`, "Use one of the BackendType values of the proto");
  if (!e || e === "BACKEND_TYPE_UNSPECIFIED") return undefined;
  return e.replace(/^BACKEND_TYPE_/, "").toLowerCase();
}

export function toGrpcWorkspace(view: WorkspaceView, record?: WorkspaceRecord): Workspace {
  return {
    id: view.id,
    name: view.name,
    displayName: view.displayName,
    status: statusEnum(view.status),
    backend: backendEnum(view.backend),
    repository: view.repository ? { path: view.repository.path, url: view.repository.url ?? "" } : null,
    branch: view.branch,
    resources: { preset: view.resources.preset ?? "", cpu: view.resources.cpu, memoryBytes: view.resources.memoryBytes },
    ports: view.ports,
    config: record
      ? { env: record.env, image: record.image, forwardAgent: record.forwardAgent, idleTimeoutSeconds: record.idleTimeoutSeconds ?? 0, worktreePath: record.mountPath }
      : null,
    createdAt: timestamp(view.createdAt),
    updatedAt: timestamp(view.updatedAt),
    lastActiveAt: timestamp(view.lastActiveAt),
    labels: view.labels ?? {},
  };
}

export function toGrpcStatus(s: WorkspaceStatusView): WorkspaceStatusResponse {
  return {
    workspaceId: s.workspaceId,
    name: s.name,
    status: statusEnum(s.status),
    backend: backendEnum(s.backend),
    containerId: s.containerId ?? "",
    sshPort: s.ports.ssh,
    ports: s.ports.services.map(({ name, containerPort, hostPort }) => ({ name, containerPort, hostPort })),
    branch: s.branch,
    worktreePath: s.worktreePath,
    resources: { preset: s.resources.preset ?? "", cpu: s.resources.cpu, memoryBytes: s.resources.memoryBytes },
    createdAt: timestamp(s.createdAt),
    lastActiveAt: timestamp(s.lastActiveAt),
    errorMessage: s.error?.message ?? "",
  };
}

export function toGrpcStats(s: WorkspaceStats): ResourceStats {
  const { timestamp: at, ...rest } = s;
  return { ...rest, timestamp: timestamp(at) };
}
