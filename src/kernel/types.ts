// The domain's shapes: what a workspace is on disk and on the wire.

export const WORKSPACE_STATUSES = ["pending", "running", "paused", "stopped", "error", "destroying", "destroyed"] as const;
export type WorkspaceStatus = (typeof WORKSPACE_STATUSES)[number];

export const BACKENDS = ["docker"] as const;
export type Backend = (typeof BACKENDS)[number];

export interface PortMapping {
  name: string;
  containerPort: number;
  hostPort: number;
}

export interface ResourceLimits {
  preset?: string;
  cpu: number;
  memoryBytes: number;
}

export interface RepositoryInfo {
  /** The repository's main working tree on the host. */
  path: string;
  /** The repository's common git dir, mounted at the same absolute path in the container. */
  gitCommonDir: string;
  /** Where it was cloned from, when created with --repo. */
  url?: string;
  /** True when Nexus cloned it (so destroy of a failed create may remove it). */
  cloned: boolean;
}

export interface WorktreeInfo {
  path: string;
  branch: string;
  /** Whether this workspace made the branch (a failed create deletes only a branch it made). */
  branchCreated: boolean;
}

export interface WorkspaceRecord {
  id: string;
  name: string;
  displayName: string;
  status: WorkspaceStatus;
  backend: Backend;
  repository: RepositoryInfo | null;
  worktree: WorktreeInfo | null;
  /** Host path bind-mounted at /workspace (on a remote engine: synced with its /workspace volume). */
  mountPath: string;
  /** The engine it runs on, by its name under `engines:` in the config; absent: the local engine. */
  engine?: string;
  branch: string;
  image: string;
  containerName: string;
  containerId: string | null;
  homeVolume: string;
  ports: { ssh: number; services: PortMapping[] };
  resources: ResourceLimits;
  /** The project asked for sudo inside (`sudo: true`): no-new-privileges is lifted. */
  sudo?: boolean;
  env: Record<string, string>;
  /** Labels given at create (`--label k=v`); absent on records written before labels existed. */
  labels?: Record<string, string>;
  forwardAgent: boolean;
  /** Seconds without activity before the workspace is paused; null follows defaults.idle_timeout. */
  idleTimeoutSeconds?: number | null;
  hostKeyFingerprint: string;
  /** Destroy removes the clone Nexus made (-r): set when its branch holds nothing that is nowhere else. */
  removeCloneOnDestroy?: boolean;
  /** Destroy moves the worktree into ~/.nexus/trash first (it holds git-ignored or uncommitted files; trash.ts). */
  trashOnDestroy?: { ignored: string[]; uncommitted: number };
  /** Destroy keeps the workspace's checkpoints (--keep-checkpoints). */
  keepCheckpoints?: boolean;
  /** A new host key waits in ssh/next_* and takes over at the next start. */
  hostKeyRotationPending?: boolean;
  error: WorkspaceError | null;
  createdAt: string;
  updatedAt: string;
  lastActiveAt: string;
}

export interface WorkspaceError {
  code: string;
  message: string;
  /** E.g. a failed hook's log tail. */
  details?: Record<string, unknown>;
}

/** The spec's Workspace shape as REST returns it. */
export interface WorkspaceView {
  id: string;
  name: string;
  displayName: string;
  status: WorkspaceStatus;
  backend: Backend;
  branch: string;
  repository: { path: string; url?: string } | null;
  worktreePath: string;
  ports: PortMapping[];
  resources: ResourceLimits;
  /** Seconds without activity before it is paused; null follows defaults.idle_timeout, 0 never. */
  idleTimeoutSeconds: number | null;
  forwardAgent: boolean;
  /** Extension: the workspace's labels (list's label_selector filters on them). */
  labels: Record<string, string>;
  /** The engine it runs on, when not the local one (an extension). */
  engine?: string;
  createdAt: string;
  updatedAt: string;
  lastActiveAt: string;
  error?: WorkspaceError;
}

export function toView(r: WorkspaceRecord): WorkspaceView {
  const view: WorkspaceView = {
    id: r.id,
    name: r.name,
    displayName: r.displayName,
    status: r.status,
    backend: r.backend,
    branch: r.branch,
    repository: r.repository ? { path: r.repository.path, ...(r.repository.url ? { url: r.repository.url } : {}) } : null,
    worktreePath: r.mountPath,
    ports: [{ name: "ssh", containerPort: 22, hostPort: r.ports.ssh }, ...r.ports.services],
    resources: r.resources,
    idleTimeoutSeconds: r.idleTimeoutSeconds ?? null,
    forwardAgent: r.forwardAgent,
    labels: r.labels ?? {},
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    lastActiveAt: r.lastActiveAt,
  };
  if (r.engine) view.engine = r.engine;
  if (r.error) view.error = r.error;
  return view;
}

/** The spec's status object (GET /workspaces/{id}/status). */
export interface WorkspaceStatusView {
  workspaceId: string;
  name: string;
  status: WorkspaceStatus;
  backend: Backend;
  containerId: string | null;
  ports: { ssh: number; services: Array<PortMapping & { status: string }> };
  sync: { provider: string; status: string; lastSyncAt: string | null };
  createdAt: string;
  lastActiveAt: string;
  branch: string;
  worktreePath: string;
  resources: ResourceLimits;
  /** Extension: the workspace's labels. */
  labels: Record<string, string>;
  idle: IdleView;
  /** Extension: each service of the project and its health. */
  services: ServiceHealthView[];
  /** Extension: the project's configuration files and which of them set each key (devcontainer.json, .nexus/workspace.yaml, ...). */
  configuration?: { files: string[]; sources: Record<string, string>; overridden: Array<{ key: string; file: string; by: string }> };
  error?: WorkspaceError;
}

/** Why a workspace is (not) idle. */
export interface IdleView {
  /** 0 means never paused for idleness. */
  timeoutSeconds: number;
  action: "pause" | "stop";
  lastActiveAt: string;
  idleForSeconds: number;
  /** What keeps it awake right now, e.g. "2 commands running", "1 SSH connection". */
  keptAwakeBy: string[];
}

/** The spec's SSHInfo. */
export interface SshInfo {
  workspaceId: string;
  enabled: boolean;
  host: string;
  port: number;
  user: string;
  forwardAgent: boolean;
  hostKeyFingerprint: string;
  connectionCommand: string;
  configured: boolean;
  /** Extension: a rotated key waits for the next restart. */
  rotationPending: boolean;
}

/** The spec's ServiceHealth (start and resume answers). */
export interface ServiceHealthView {
  name: string;
  status: string;
  port: number | null;
  url: string | null;
  message?: string;
}

/** One service as `GET /services` lists it. */
export interface ServiceView {
  name: string;
  status: string;
  containerPort: number | null;
  hostPort: number | null;
  url: string | null;
  healthCheck: string | null;
  dependsOn: string[];
  pid: number | null;
  restarts: number;
  lastExitCode: number | null;
  startedAt: string | null;
  message: string;
  lastProbe: { ok: boolean; at: string; output: string } | null;
  /** Why the URL may show nothing (e.g. the server listens on 127.0.0.1 only inside). */
  hint?: string;
}

export interface ResumeResult {
  workspaceId: string;
  status: WorkspaceStatus;
  durationMs: number;
  services: ServiceHealthView[];
}

/** What start answers: the workspace, its services' health, and how long it took. */
export type StartResult = WorkspaceView & { services: ServiceHealthView[]; durationMs: number };

/** Options of start (and of create's bring-up): the spec's skip_hooks, skip_services, blocking, timeout. */
export interface BringUpOptions {
  skipHooks?: boolean;
  skipServices?: boolean;
  /** Wait until every service is healthy (or the timeout passes); default true. */
  blocking?: boolean;
  timeoutSeconds?: number;
}

export interface ExecRequest {
  command: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
  timeoutSeconds?: number;
}

export interface ExecResult {
  exitCode: number;
  signal?: string;
  stdout: string;
  stderr: string;
}

// A lasting port forward of the daemon into a workspace (core/forwards.ts), as kept in ~/.nexus.
export type Visibility = "private" | "public";

export interface PortForward {
  id: string;
  workspaceId: string;
  containerPort: number;
  hostPort: number;
  visibility: Visibility;
  /** 127.0.0.1 (private) or 0.0.0.0 (public: reachable from other machines). */
  bindAddress: string;
  url: string;
  createdAt: string;
  /** Held by a `nexus proxy`: removed when it ends, never persisted. */
  temporary?: boolean;
}
