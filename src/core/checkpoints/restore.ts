// Restore: an automatic checkpoint of the current state first, then a new container (from the
// workspace's original image, the checkpoint's changes copied in) and a new home volume beside the
// old ones, the worktree's files, and only then the swap. A journal on disk lets the daemon undo
// (before the swap) or finish (after it) a restore it was killed in.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { renameContainer } from "../../docker/checkpoints.ts";
import type { DockerEngine } from "../../docker/engine.ts";
import { restoreWorktree } from "../../git/snapshot.ts";
import { writeFileAtomic } from "../../store/atomic.ts";
import { errors, NexusError, toNexusError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ProgressSink, WorkspaceRecord } from "../types.ts";
import type { WorkspaceService } from "../workspaces.ts";
import type { CreateCheckpointInput } from "./inputs.ts";
import type { CheckpointRecord, CheckpointView, RestoreResult } from "./types.ts";

export interface RestoreContext {
  docker: DockerEngine;
  workspaces: WorkspaceService;
  log: Logger;
  dir: string;
  /** An automatic checkpoint (the caller holds the workspace's lock). */
  checkpoint(r: WorkspaceRecord, input: CreateCheckpointInput): Promise<CheckpointRecord>;
  fillContainer(c: CheckpointRecord, containerId: string): Promise<void>;
  view(c: CheckpointRecord): CheckpointView;
}

interface RestoreJournal {
  workspaceId: string;
  checkpointId: string;
  safetyId: string;
  /** prepare: new container and volume being made; worktree: files being written; switch: the record points at the new ones. */
  phase: "prepare" | "worktree" | "switch";
  containerName: string;
  oldContainerId: string | null;
  oldVolume: string;
  newContainerId: string | null;
  newVolume: string;
  worktreePath: string | null;
}

const journalFile = (dir: string, workspaceId: string) => join(dir, `restore-${workspaceId}.json`);
const writeJournal = (dir: string, j: RestoreJournal) => writeFileAtomic(journalFile(dir, j.workspaceId), JSON.stringify(j, null, 2) + "\n");

/** Restores `cp` onto `r`; the caller holds the workspace's lock. */
export async function restoreLocked(ctx: RestoreContext, r: WorkspaceRecord, cp: CheckpointRecord, progress: ProgressSink): Promise<RestoreResult> {
  const started = performance.now();
  const step = (phase: string, message: string) => progress({ phase, message, elapsedMs: Math.round(performance.now() - started) });
  if (r.status === "pending" || r.status === "destroying") {
    throw errors.invalidState(r.name, r.status, "created (running, paused or stopped) to restore a checkpoint", `See 'nexus status ${r.name}'`);
  }
  step("checkpoint", `Taking an automatic checkpoint of ${r.name} first`);
  const safety = await ctx.checkpoint(r, { description: `The state of ${r.name} before checkpoint '${cp.name}' was restored` });
  step("checkpoint", `The current state is kept in checkpoint ${safety.name} (${safety.id})`);
  const wasUp = r.status === "running" || r.status === "paused";
  const suffix = randomBytes(3).toString("hex");
  const j: RestoreJournal = {
    workspaceId: r.id,
    checkpointId: cp.id,
    safetyId: safety.id,
    phase: "prepare",
    containerName: r.containerName,
    oldContainerId: r.containerId,
    oldVolume: r.homeVolume,
    newContainerId: null,
    newVolume: `${r.containerName}-home-${suffix}`,
    worktreePath: cp.worktree && r.repository && existsSync(r.mountPath) ? r.mountPath : null,
  };
  writeJournal(ctx.dir, j);
  let headMoved = false;
  let release = async () => {};
  try {
    step("stop", `Stopping ${r.name}`);
    await ctx.workspaces.stopLocked(r.id, { timeoutSeconds: 10 });
    // Holding the ports with placeholder listeners here (holdPorts) ended the compiled daemon in the
    // e2e test; until that is understood the window stays open and start tries again (startKeepingPorts).
    step("container", `Making the container from checkpoint ${cp.name}`);
    const { ncpu } = await ctx.docker.ping();
    const spec = ctx.workspaces.containerSpecFor({ ...r, homeVolume: j.newVolume }, ncpu);
    spec.name = `${r.containerName}-restore-${suffix}`;
    await ctx.docker.createVolume(j.newVolume, spec.labels);
    j.newContainerId = await ctx.docker.createContainer(spec);
    writeJournal(ctx.dir, j);
    await ctx.fillContainer(cp, j.newContainerId);
    if (j.worktreePath) {
      step("worktree", `Putting the worktree's files back in ${j.worktreePath}`);
      j.phase = "worktree";
      writeJournal(ctx.dir, j);
      headMoved = (await restoreWorktree(j.worktreePath, cp.worktree!)).headMoved;
    }
  } catch (err) {
    const e = toNexusError(err);
    ctx.log.warn(`restore of ${cp.name} onto ${r.name} failed, undoing it: ${e.message}`);
    await release();
    await undo(ctx, j, safety);
    if (wasUp) await ctx.workspaces.startLocked(r.id).catch((s: Error) => ctx.log.warn(`${r.name}: starting again after a failed restore: ${s.message}`));
    throw new NexusError(e.code, `Restoring checkpoint '${cp.name}' failed, and ${r.name} was left as it was: ${e.message}`, {
      suggestion: `${e.suggestion ?? "See the daemon log"}; the state before is also kept in checkpoint '${safety.name}'`,
      details: { ...e.details, checkpoint: cp.id, safetyCheckpoint: safety.id },
    });
  }
  j.phase = "switch";
  writeJournal(ctx.dir, j);
  r.containerId = j.newContainerId;
  r.homeVolume = j.newVolume;
  ctx.workspaces.saveRecord(r);
  await finishSwitch(ctx, j).finally(release);
  step("start", `Starting ${r.name}`);
  let status: string;
  try {
    status = (await startKeepingPorts(ctx, r.id, progress)).status;
  } catch (err) {
    const e = toNexusError(err);
    throw new NexusError(e.code, `Checkpoint '${cp.name}' was restored, but ${r.name} did not start: ${e.message}`, {
      suggestion: `'nexus start ${r.name}' tries again; the state before the restore is in checkpoint '${safety.name}'`,
      details: { ...e.details, checkpoint: cp.id, safetyCheckpoint: safety.id },
    });
  }
  const moved = headMoved ? `; the branch had moved since the checkpoint, so its files were put on the current HEAD (${r.branch})` : "";
  ctx.log.info(`restored ${cp.name} onto ${r.name}${moved}`);
  return {
    checkpoint: ctx.view(cp),
    safetyCheckpoint: ctx.view(safety),
    workspaceId: r.id,
    status,
    headMoved,
    durationMs: Math.round(performance.now() - started),
    message: `Restored checkpoint ${cp.name}; the state before is in checkpoint ${safety.name}${moved}`,
  };
}

/**
 * Keeps the workspace's host ports bound while its container is down, so another program (or
 * another Nexus on the machine, whose allocator probes by binding) does not take them meanwhile.
 * Ports that cannot be bound are left as they are. Answers the release.
 */
async function holdPorts(ports: readonly number[]): Promise<() => Promise<void>> {
  const held: Server[] = [];
  await Promise.all(
    ports.map(
      (port) =>
        new Promise<void>((resolve) => {
          const server = createServer((socket) => socket.destroy());
          server.once("error", () => resolve());
          server.listen({ port, host: "127.0.0.1", exclusive: true }, () => {
            server.on("error", () => {}); // a placeholder: nothing it does may end the daemon
            held.push(server);
            resolve();
          });
        }),
    ),
  );
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await Promise.all(held.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  };
}

/**
 * Starts with the workspace's own ports. They were free while it was stopped, and on a shared
 * machine another program may have taken one meanwhile: tried a few times before giving up (the
 * workspace keeps its ports; a later 'nexus start' tries again).
 */
async function startKeepingPorts(ctx: RestoreContext, id: string, progress: ProgressSink) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.workspaces.startLocked(id, {}, progress);
    } catch (err) {
      if (!(err instanceof NexusError && err.code === "PORT_CONFLICT") || attempt >= 5) throw err;
      progress({ phase: "start", message: `A port of the workspace is taken by another program; trying again (${attempt}/4)` });
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}

/** Before the swap: the new container and volume go, the worktree gets the files it had. */
async function undo(ctx: RestoreContext, j: RestoreJournal, safety: CheckpointRecord | undefined): Promise<void> {
  if (j.newContainerId) await ctx.docker.removeContainer(j.newContainerId).catch((e: Error) => ctx.log.warn(`undo restore: ${e.message}`));
  await ctx.docker.removeVolume(j.newVolume).catch((e: Error) => ctx.log.warn(`undo restore: ${e.message}`));
  if (j.phase === "worktree" && j.worktreePath && safety?.worktree) {
    await restoreWorktree(j.worktreePath, safety.worktree);
  }
  rmSync(journalFile(ctx.dir, j.workspaceId), { force: true });
}

/** After the record points at the new container and volume: the old ones go, the new container takes the workspace's name. */
async function finishSwitch(ctx: RestoreContext, j: RestoreJournal): Promise<void> {
  if (j.oldContainerId && j.oldContainerId !== j.newContainerId) await ctx.docker.removeContainer(j.oldContainerId);
  if (j.newContainerId) {
    const info = await ctx.docker.inspect(j.newContainerId);
    if (info && info.name !== j.containerName) await renameContainer(ctx.docker, j.newContainerId, j.containerName);
  }
  if (j.oldVolume !== j.newVolume) await ctx.docker.removeVolume(j.oldVolume);
  rmSync(journalFile(ctx.dir, j.workspaceId), { force: true });
}

/** At daemon start: each restore the daemon was killed in is undone (before the swap) or finished (after it). */
export async function finishInterruptedRestore(ctx: RestoreContext, checkpoint: (id: string) => CheckpointRecord | undefined): Promise<void> {
  if (!existsSync(ctx.dir)) return;
  for (const f of readdirSync(ctx.dir).filter((f) => /^restore-.+\.json$/.test(f))) {
    let j: RestoreJournal;
    try {
      j = JSON.parse(readFileSync(join(ctx.dir, f), "utf8")) as RestoreJournal;
    } catch {
      continue;
    }
    try {
      const r = ctx.workspaces.list().some((w) => w.id === j.workspaceId) ? ctx.workspaces.resolve(j.workspaceId) : undefined;
      if (j.phase === "switch" && r) {
        if (r.containerId !== j.newContainerId || r.homeVolume !== j.newVolume) {
          r.containerId = j.newContainerId;
          r.homeVolume = j.newVolume;
          ctx.workspaces.saveRecord(r);
        }
        await finishSwitch(ctx, j);
        ctx.log.info(`reconcile: finished the restore of ${r.name} the daemon was stopped in; start it with 'nexus start ${r.name}'`);
      } else {
        await undo(ctx, j, checkpoint(j.safetyId));
        ctx.log.info(`reconcile: undid the restore of ${r?.name ?? j.workspaceId} the daemon was stopped in; its state before is also in checkpoint ${j.safetyId}`);
      }
    } catch (err) {
      ctx.log.warn(`reconcile: interrupted restore ${f}: ${(err as Error).message}`);
    }
  }
}
