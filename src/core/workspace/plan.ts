// The create plan: where a workspace's files come from, its ports and its resources, decided
// (and validated) before anything is made.
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import type { NexusConfig } from "../../config/schema.ts";
import { RESOURCE_PRESETS } from "../../config/schema.ts";
import type { ProjectConfig } from "../../config/project.ts";
import { parseSize } from "../../config/units.ts";
import * as git from "../../git/git.ts";
import { checkWorkspacePath, daemonCaller } from "../caller.ts";
import { errors } from "../../kernel/errors.ts";
import type { CreateWorkspaceInput } from "../inputs.ts";
import type { PortMapping, RepositoryInfo, ResourceLimits, WorkspaceRecord, WorktreeInfo } from "../../kernel/types.ts";
import { workspaceNames } from "./names.ts";

/** Something made during a create, and how to take it back when a later step fails. */
export interface UndoStep {
  what: string;
  run: () => Promise<void> | void;
}

/**
 * Where the files at /workspace come from: a new `worktree` of a local repository, the `folder` itself
 * (--no-worktree), or a `clone` of a URL into NEXUS_HOME with a worktree of it.
 */
export type SourceKind = "worktree" | "folder" | "clone";

export interface SourcePlan {
  kind: SourceKind;
  repository: RepositoryInfo | null;
  worktree: WorktreeInfo | null;
  mountPath: string;
  branch: string;
  /** The worktree to add (absent for a folder). */
  makeWorktree: { repo: string; commonDir: string; base: string | undefined } | undefined;
}

export function sourceKind(input: Pick<CreateWorkspaceInput, "repo" | "noWorktree">): SourceKind {
  return input.repo ? "clone" : input.noWorktree ? "folder" : "worktree";
}

/** Resolves (and for `clone`, makes) the workspace's source; what it made goes on `undo`. */
export async function planSource(input: CreateWorkspaceInput, id: string, config: NexusConfig, nexusHome: string, undo: UndoStep[]): Promise<SourcePlan> {
  const names = workspaceNames(input.name, id);
  const kind = sourceKind(input);
  let repoDir = input.path ?? config.workspaces[input.name]?.path;
  let cloned = false;
  let url: string | undefined;
  if (input.repo) {
    url = input.repo;
    repoDir = names.cloneDir(nexusHome);
    mkdirSync(dirname(repoDir), { recursive: true, mode: 0o700 });
    await git.clone(input.repo, repoDir);
    cloned = true;
    const dir = repoDir;
    undo.push({ what: "remove clone", run: () => rmSync(dir, { recursive: true, force: true }) });
  }
  if (!repoDir) {
    throw errors.invalidArgument("No repository given", "Run 'nexus create' inside a git repository, or pass --repo <url> (REST: 'path' or 'repo')");
  }
  // The caller's own repository or folder, never a system folder (caller.ts): the API is no root shell.
  checkWorkspacePath(repoDir, daemonCaller(), { nexusHome });
  if (input.noWorktree) {
    const info = await git.repoInfo(repoDir).catch(() => undefined);
    return {
      kind,
      repository: info ? { path: info.path, gitCommonDir: info.commonDir, cloned, ...(url ? { url } : {}) } : null,
      worktree: null,
      mountPath: info?.path ?? repoDir,
      branch: info?.head ?? "",
      makeWorktree: undefined,
    };
  }
  const info = await git.repoInfo(repoDir);
  const branch = input.branch ?? names.branch;
  const path = names.worktreeDir(info.path);
  if (existsSync(path)) {
    throw errors.invalidArgument(`Worktree path ${path} already exists`, `Remove it ('git worktree remove ${path}') or pick another name`, { path });
  }
  const exists = await git.branchExists(info.path, branch);
  let base: string | undefined;
  if (!exists) {
    // A branch only the remote has (a fresh clone holds just its default branch) is taken from there, as `git checkout` does.
    const wanted = input.fromBranch ?? (await git.remoteBranch(info.path, branch)) ?? info.head;
    base = wanted && ((await git.hasCommit(info.path, wanted)) ? wanted : await git.remoteBranch(info.path, wanted));
    if (!base) {
      throw errors.invalidArgument(
        wanted ? `Base '${wanted}' is not a commit or branch of ${info.path}` : `The repository ${info.path} has no commits yet`,
        wanted ? "Pass an existing branch with --from-branch" : "Make a first commit, then create the workspace",
        { repository: info.path, ...(wanted ? { base: wanted } : {}) },
      );
    }
  } else if (input.fromBranch) {
    throw errors.invalidArgument(`Branch '${branch}' already exists, so --from-branch does not apply`, "Leave out --from-branch to use the existing branch, or pick a new --branch");
  }
  return {
    kind,
    repository: { path: info.path, gitCommonDir: info.commonDir, cloned, ...(url ? { url } : {}) },
    worktree: { path, branch, branchCreated: !exists },
    mountPath: path,
    branch,
    makeWorktree: { repo: info.path, commonDir: info.commonDir, base },
  };
}

/** Container ports the project adds (its ports and its services' ports) that are not published yet; 22 is SSH's. */
export function extraProjectPorts(project: Pick<ProjectConfig, "ports" | "services">, published: readonly PortMapping[]): number[] {
  const have = new Set(published.map((p) => p.containerPort));
  return [...new Set([...project.ports, ...project.services.flatMap((s) => (s.port !== undefined ? [s.port] : []))])].filter((p) => p !== 22 && !have.has(p));
}

/** Published ports take the name of the service that uses them. */
export function nameServicePorts(ports: PortMapping[], project: Pick<ProjectConfig, "services" | "portNames">): void {
  for (const p of ports) {
    const svc = project.services.find((s) => s.port === p.containerPort);
    if (svc) p.name = svc.name;
    // devcontainer.json's portsAttributes label names a port no service claims.
    else if (project.portNames?.[p.containerPort] && p.name === `port-${p.containerPort}`) p.name = project.portNames[p.containerPort]!;
  }
}

/** Every host port a record holds. */
export function recordPorts(r: Pick<WorkspaceRecord, "ports">): number[] {
  return [r.ports.ssh, ...r.ports.services.map((p) => p.hostPort)];
}

/** The first host port is SSH's; the rest publish `containerPorts` in order. */
export function portMappings(hostPorts: readonly number[], containerPorts: readonly number[]): WorkspaceRecord["ports"] {
  return {
    ssh: hostPorts[0]!,
    services: containerPorts.map((p, i): PortMapping => ({ name: `port-${p}`, containerPort: p, hostPort: hostPorts[i + 1]! })),
  };
}

/** A resources value (preset or {cpu, memory}) as limits. */
export function resolveResources(value: string | { cpu: number; memory: number }): ResourceLimits {
  if (typeof value === "string") {
    const preset = RESOURCE_PRESETS[value as keyof typeof RESOURCE_PRESETS];
    if (!preset) throw errors.invalidArgument(`Unknown resources preset '${value}'`, "Use small, medium, large, xlarge or {cpu, memory}");
    return { preset: value, cpu: preset.cpu, memoryBytes: preset.memoryBytes };
  }
  return { cpu: value.cpu, memoryBytes: typeof value.memory === "number" ? value.memory : parseSize(value.memory) ?? 0 };
}
