// What a workspace does with a devcontainer.json beyond the shared project keys: container options,
// the host-side initializeCommand (with consent), host requirements, the once-per-workspace lifecycle
// commands. Kept out of workspaces.ts, which calls these at a few points of create and start.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ContainerSpec } from "../docker/container-engine.ts";
import { readDevcontainer, type DevcontainerCopy, type HookStep, type ProjectConfig } from "../config/project.ts";
import type { HostRequirements } from "../config/devcontainer/layer.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { readUntrustedFileSync } from "../fs/untrusted-files.ts";
import { NexusError } from "./errors.ts";
import { runHookSteps, type HookResult } from "./hooks.ts";

/** Run once per workspace, in this order, before pre-start (the spec's onCreate, updateContent, postCreate). */
export const CREATE_ONCE_HOOKS = ["on-create", "update-content", "post-create"] as const;

/** What create decided about a workspace's project configuration, kept for its later starts. */
export interface ProjectChoice {
  /** The devcontainer.json chosen with --devcontainer (relative to the worktree). */
  devcontainer?: string;
  /** initializeCommand may run on this machine. */
  trusted: boolean;
  /** Why it may not without consent, for the refusal (ownDevcontainer). */
  untrustedWhy?: string;
  /**
   * The devcontainer.json create read (null: none), which later starts and restores use. The worktree
   * is the workspace's to write, and this file says what runs on this machine (initializeCommand) and
   * what of it the container gets (mounts, ${localEnv:...}): a copy written there is never followed.
   * Absent in a record made before this was kept: its next start keeps the worktree's.
   */
  devcontainerCopy?: DevcontainerCopy | null;
}

export function readProjectChoice(workspaceDir: string): ProjectChoice {
  try {
    return JSON.parse(readFileSync(join(workspaceDir, "project.json"), "utf8")) as ProjectChoice;
  } catch {
    return { trusted: false };
  }
}

export function writeProjectChoice(workspaceDir: string, choice: ProjectChoice): void {
  writeFileAtomic(join(workspaceDir, "project.json"), JSON.stringify(choice) + "\n", 0o600);
}

/**
 * Whether a new workspace's devcontainer.json (`copy`, read in its worktree) is the user's own, so its
 * initializeCommand may run here without asking: the same file, byte for byte, is in `checkout` (the
 * folder the workspace was made from, as it is now), and no workspace mounts that folder. A branch a
 * workspace committed it to (a review of an agent's work), or a checkout a workspace writes in, is
 * not: the answer then says why, for the refusal.
 */
export function ownDevcontainer(copy: DevcontainerCopy | null, checkout: string, mountedByWorkspace: boolean): { own: true } | { own: false; why: string } {
  if (!copy) return { own: true };
  if (mountedByWorkspace) return { own: false, why: `a workspace mounts ${checkout}, so it may have written it` };
  let there: string | undefined;
  try {
    there = readUntrustedFileSync(checkout, join(checkout, copy.file));
  } catch {
    there = undefined;
  }
  return there === copy.text ? { own: true } : { own: false, why: `it is not the ${copy.file} of ${checkout} (the branch's may come from a workspace)` };
}

/**
 * Before a start: the copy of devcontainer.json the workspace keeps (a record made before copies were
 * kept takes the worktree's now), and a note when the worktree's is another: it is not followed.
 */
export function keptDevcontainer(workspaceDir: string, worktree: string): string | undefined {
  const choice = readProjectChoice(workspaceDir);
  let now: DevcontainerCopy | null;
  try {
    now = readDevcontainer(worktree, choice.devcontainer);
  } catch {
    now = null; // several, or the chosen one gone: the kept copy is what counts
  }
  if (choice.devcontainerCopy === undefined) {
    writeProjectChoice(workspaceDir, { ...choice, devcontainerCopy: now });
    return undefined;
  }
  const kept = choice.devcontainerCopy;
  if (now?.file === kept?.file && now?.text === kept?.text) return undefined;
  const file = now?.file ?? kept!.file;
  return `${file} is not the one this workspace was created with: its changes are not followed (the workspace can write its worktree, and initializeCommand runs on this machine); create a new workspace to use it`;
}

/** The container's environment (image ENV plus containerEnv), for `${containerEnv:...}`; written once the image is known. */
export function readContainerEnv(workspaceDir: string): Record<string, string> | undefined {
  try {
    return JSON.parse(readFileSync(join(workspaceDir, "container-env.json"), "utf8")) as Record<string, string>;
  } catch {
    return undefined;
  }
}

export function writeContainerEnv(workspaceDir: string, env: Record<string, string>): void {
  writeFileAtomic(join(workspaceDir, "container-env.json"), JSON.stringify(env) + "\n", 0o600);
}

const createdMarker = (workspaceDir: string) => join(workspaceDir, "lifecycle-created");

/** onCreate/updateContent/postCreate ran to the end once: later starts skip them. */
export function createHooksDone(workspaceDir: string): boolean {
  return existsSync(createdMarker(workspaceDir));
}

export function markCreateHooksDone(workspaceDir: string): void {
  writeFileSync(createdMarker(workspaceDir), new Date().toISOString() + "\n", { mode: 0o600 });
}

/** devcontainer.json's container options on top of Nexus's own spec (whose ports, mounts, labels and hardening stay). */
export function applyContainerOptions(spec: ContainerSpec, project: ProjectConfig | undefined, worktree: string): void {
  const dc = project?.devcontainer;
  if (!dc) return;
  const o = dc.container;
  spec.env = [...Object.entries(o.env).map(([k, v]) => `${k}=${v}`), ...spec.env];
  spec.labels = { ...o.labels, ...spec.labels };
  if (dc.workspaceFolder !== "/workspace") spec.mounts.push({ type: "bind", source: worktree, target: dc.workspaceFolder });
  for (const m of o.mounts) spec.mounts.push({ type: m.type, target: m.target, readOnly: m.readOnly, source: m.source ?? "" });
  // Added to the workspace's hardening (its seccomp profile and dropped capabilities) by the engine, never replacing it.
  spec.projectOptions = {
    capAdd: o.capAdd,
    capDrop: o.capDrop,
    securityOpt: o.securityOpt,
    extraHosts: o.extraHosts,
    ...(o.shmSize !== undefined ? { shmSize: o.shmSize } : {}),
    ulimits: o.ulimits.map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
  };
}

/** Named volumes of devcontainer.json's mounts: made with the workspace's labels (they outlive it, as the spec's do). */
export function projectVolumes(project: ProjectConfig | undefined): string[] {
  return (project?.devcontainer?.container.mounts ?? []).filter((m) => m.type === "volume").map((m) => m.source!);
}

/** hostRequirements against this engine and the worktree's disk: what falls short, as warnings. */
export function hostRequirementWarnings(req: HostRequirements, engine: { ncpu: number; memTotal: number }, worktree: string): string[] {
  const warnings: string[] = [];
  const gib = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (req.cpus !== undefined && engine.ncpu < req.cpus) warnings.push(`hostRequirements.cpus: the project asks for ${req.cpus} CPUs; the engine has ${engine.ncpu}`);
  if (req.memory !== undefined && engine.memTotal < req.memory) warnings.push(`hostRequirements.memory: the project asks for ${gib(req.memory)}; the engine has ${gib(engine.memTotal)}`);
  if (req.storage !== undefined) {
    try {
      const fs = statfsSync(worktree);
      const free = fs.bavail * fs.bsize;
      if (free < req.storage) warnings.push(`hostRequirements.storage: the project asks for ${gib(req.storage)}; ${gib(free)} is free where the worktree is`);
    } catch {
      warnings.push("hostRequirements.storage: the free space could not be read");
    }
  }
  if (req.gpu === true) warnings.push("hostRequirements.gpu: the project asks for a GPU; Nexus does not give workspaces one");
  return warnings;
}

/**
 * initializeCommand runs on this machine, so a repository someone else wrote (cloned by `--repo`)
 * needs the user's consent: `--trust`, or defaults.trust_host_commands in the config.
 */
export function requireTrust(steps: readonly HookStep[], file: string, trusted: boolean, why?: string): void {
  if (steps.length === 0 || trusted) return;
  throw new NexusError("PERMISSION_DENIED", `${file} runs a command on this machine (initializeCommand)${why ? `, and ${why}` : ""}: ${steps.map((s) => s.command).join("; ")}`, {
    suggestion: "Read it, then create again with --trust (REST/gRPC: \"trust\": true), or set defaults.trust_host_commands: true in the config",
    details: { file, initializeCommand: steps.map((s) => s.command), trustRequired: true },
  });
}

/** Runs initializeCommand on the host (in the worktree, with the daemon's environment), with the hooks' logs and timeouts. */
export function runInitializeCommand(steps: readonly HookStep[], logFile: string): Promise<HookResult> {
  return runHookSteps("initialize", steps, (step, signal) => runOnHost(step, signal), logFile);
}

function runOnHost(step: HookStep, signal: AbortSignal): Promise<{ exitCode: number; output: string }> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout ends what it started too.
    const child = spawn("sh", ["-c", step.command], { cwd: step.cwd, env: { ...process.env, ...step.env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => chunks.push(b));
    child.stderr.on("data", (b: Buffer) => chunks.push(b));
    const kill = () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    signal.addEventListener("abort", kill, { once: true });
    child.on("error", reject);
    child.on("close", (code) => {
      signal.removeEventListener("abort", kill);
      resolve({ exitCode: code ?? 124, output: Buffer.concat(chunks).toString("utf8") });
    });
  });
}

/** A failed initializeCommand stops create or start before the container is touched. */
export function initializeFailed(workspaceName: string, file: string, r: HookResult): NexusError {
  const why = r.timedOut ? "ran past its timeout" : `exited with code ${r.exitCode}`;
  return new NexusError("WORKSPACE_START_FAILED", `The initializeCommand of workspace '${workspaceName}' (${file}) ${why}`, {
    suggestion: `Fix initializeCommand in ${file} (it runs on this machine, in the worktree; full log: ${r.logFile})`,
    details: { hook: "initialize", exitCode: r.exitCode, logTail: r.output.split("\n"), logFile: r.logFile, steps: r.steps },
  });
}
