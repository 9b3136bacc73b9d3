// Workspace records for tests that need one on disk without creating a real workspace.
import type { WorkspaceRecord } from "../../src/core/types.ts";

let seq = 0;

export function makeRecord(over: Partial<WorkspaceRecord> = {}): WorkspaceRecord {
  seq++;
  const name = over.name ?? `ws${seq}`;
  const id = over.id ?? `ws-${seq.toString(16).padStart(12, "0")}`;
  const at = over.createdAt ?? new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString();
  return {
    id,
    name,
    displayName: name,
    status: "running",
    backend: "docker",
    repository: null,
    worktree: null,
    mountPath: `/tmp/${name}`,
    branch: `nexus/${name}`,
    image: "nexus-workspace:latest",
    containerName: `nexus-${name}-${id.slice(3, 9)}`,
    containerId: null,
    homeVolume: `nexus-${name}-${id.slice(3, 9)}-home`,
    ports: { ssh: 32800 + seq, services: [] },
    resources: { preset: "medium", cpu: 2, memoryBytes: 4 * 1024 ** 3 },
    env: {},
    forwardAgent: true,
    hostKeyFingerprint: "",
    error: null,
    createdAt: at,
    updatedAt: at,
    lastActiveAt: at,
    ...over,
  };
}
