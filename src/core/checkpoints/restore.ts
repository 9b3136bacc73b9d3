// Restore: an automatic checkpoint of the current state first, then a new container (from the
// workspace's original image, the checkpoint's changes copied in) and a new home volume beside the
// old ones, the worktree's files, and only then the swap. A journal on disk lets the daemon undo
// (before the swap) or finish (after it) a restore it was killed in.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import { loadArchive } from "../../docker/checkpoints.ts";
import type { RestorePart } from "../../docker/restore-archive.ts";
import type { ContainerEngine, ContainerSpec } from "../../docker/container-engine.ts";
import { restoreWorktree, waitForIndexLocks } from "../../git/snapshot.ts";
import { writeFileAtomic } from "../../store/atomic.ts";
import { errors, NexusError, toNexusError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ProgressSink, WorkspaceRecord } from "../types.ts";
import type { WorkspaceService } from "../workspaces.ts";
import type { CreateCheckpointInput } from "./inputs.ts";
import { allSettled, Phases } from "./phases.ts";
import type { CheckpointRecord, CheckpointView, RestoreResult } from "./types.ts";
import type { CheckpointSync } from "./service.ts";

export interface RestoreContext {
  /** The engine by a workspace's `engine` (none: the local one). */
  engine(name: string | undefined): ContainerEngine;
  /** The sync of a workspace on a remote engine (undefined: its worktree is mounted). */
  remote(r: WorkspaceRecord): CheckpointSync | undefined;
  workspaces: WorkspaceService;
  log: Logger;
  dir: string;
  /** An automatic checkpoint (the caller holds the workspace's lock). */
  checkpoint(r: WorkspaceRecord, input: CreateCheckpointInput, opts?: { thawed?: () => void; keepFrozen?: boolean }): Promise<CheckpointRecord>;
  /** Makes the new container (`target`) and fills it with the checkpoint's container changes and home; answers its id. */
  fillContainer(c: CheckpointRecord, target: () => Promise<string>, phases: Phases, opts?: FillOptions): Promise<string>;
  view(c: CheckpointRecord): CheckpointView;
}

/** How a restore's new container is filled beyond the checkpoint's own parts. */
export interface FillOptions {
  /** Settles when the tar may go in (the old container, which shares the own git dir, is down). */
  ready?: () => Promise<unknown>;
  /** Parts after the checkpoint's own: a later part wins at the same path. */
  extra?: () => Promise<RestorePart[]>;
}

interface RestoreJournal {
  workspaceId: string;
  /** The workspace's engine (absent: the local one). */
  engine?: string;
  checkpointId: string;
  safetyId: string;
  /** prepare: new container and volume being made; worktree: files being written; switch: the record points at the new ones. */
  phase: "prepare" | "worktree" | "switch";
  containerName: string;
  oldContainerId: string | null;
  oldVolume: string;
  newContainerId: string | null;
  /** The new container's name, known before the engine makes it: a daemon killed between the engine's answer and the journal naming its id still finds it (absent in journals of older daemons). */
  newContainerName?: string;
  newVolume: string;
  worktreePath: string | null;
  /** The workspace was paused by its user before the restore: an undo leaves it paused. */
  wasPaused?: boolean;
}

const journalFile = (dir: string, workspaceId: string) => join(dir, `restore-${workspaceId}.json`);
const writeJournal = (dir: string, j: RestoreJournal) => writeFileAtomic(journalFile(dir, j.workspaceId), JSON.stringify(j, null, 2) + "\n");

/**
 * Restores `cp` onto `r`; the caller holds the workspace's lock. What does not touch the workspace
 * runs from the start: the new container and volume are made and the one tar that fills them is
 * written while the automatic checkpoint is taken and the old container stops; the tar goes in and
 * the worktree's files go back once the old container is down.
 */
export async function restoreLocked(ctx: RestoreContext, r: WorkspaceRecord, cp: CheckpointRecord, progress: ProgressSink): Promise<RestoreResult> {
  const started = performance.now();
  const phases = new Phases();
  const step = (phase: string, message: string) => progress({ phase, message, elapsedMs: Math.round(performance.now() - started) });
  if (r.status === "pending" || r.status === "destroying") {
    throw errors.invalidState(r.name, r.status, "created (running, paused or stopped) to restore a checkpoint", `See 'nexus status ${r.name}'`);
  }
  const wasUp = r.status === "running" || r.status === "paused";
  // A workspace on a remote engine: its files here are put back, and its next sync pass makes the
  // volume there equal to them (see README "Checkpoints of a workspace on a remote engine").
  const sync = ctx.remote(r);
  if (sync && sync.provider(r) === "mutagen") {
    throw new NexusError("UNIMPLEMENTED", `Restoring a checkpoint of '${r.name}' is not supported while mutagen syncs it: only the unison provider can make the workspace's files equal to the restored worktree`, {
      suggestion: "Set sync.provider: unison in ~/.nexus/config.yaml and restart the workspace, or restore into a new workspace ('nexus create <name> --from-checkpoint ...')",
      details: { workspaceName: r.name, checkpoint: cp.id, provider: "mutagen" },
    });
  }
  const engine = ctx.engine(r.engine);
  const suffix = randomBytes(3).toString("hex");
  const newVolume = `${r.containerName}-home-${suffix}`;
  const newContainerName = `${r.containerName}-restore-${suffix}`;
  // The new container's spec and start's files (host key, keys, env), made beside the automatic checkpoint.
  const prep = Promise.all([engine.ping(), ctx.workspaces.startFiles(r)]).then(([{ ncpu }, files]) => {
    const spec = ctx.workspaces.containerSpecFor({ ...r, homeVolume: newVolume }, ncpu);
    spec.name = newContainerName;
    return { spec, files };
  });
  prep.catch(() => {}); // awaited by the parts below
  // Nothing must run in the workspace before it stops (no pre-stop hook, no services, its files
  // here): the container frozen for the automatic checkpoint is not thawed again but ended by
  // SIGKILL (its processes never run again), and the files go back while it is still frozen.
  // Otherwise it thaws and stops as 'nexus stop' does, and the files wait for that. Asked before
  // the worktree (and its .nexus/workspace.yaml) changes.
  const quiet = !sync && ctx.workspaces.quietStop(r);
  const j: RestoreJournal = {
    workspaceId: r.id,
    ...(r.engine ? { engine: r.engine } : {}),
    checkpointId: cp.id,
    // Known once the automatic checkpoint is taken (before anything of the workspace changes).
    safetyId: "",
    phase: "prepare",
    containerName: r.containerName,
    oldContainerId: r.containerId,
    oldVolume: r.homeVolume,
    newContainerId: null,
    newContainerName,
    newVolume,
    worktreePath: cp.worktree && r.repository && existsSync(r.mountPath) ? r.mountPath : null,
    ...(r.status === "paused" ? { wasPaused: true } : {}),
  };
  // On disk before anything is made: a daemon killed from here on undoes or finishes it at its start.
  writeJournal(ctx.dir, j);
  let headMoved = false;
  let gitIndex: GitIndexOutcome = "none";
  let release = async () => {};
  let safety: CheckpointRecord | undefined;
  step("checkpoint", `Taking an automatic checkpoint of ${r.name} first; making its new container from checkpoint ${cp.name} meanwhile`);
  let thawed = () => {};
  const partsTaken = new Promise<void>((resolve) => (thawed = resolve));
  let stopRan = false;
  const taken = phases
    .part("auto-checkpoint", () => ctx.checkpoint(r, { description: `The state of ${r.name} before checkpoint '${cp.name}' was restored` }, { thawed, keepFrozen: quiet }))
    .then((s) => {
      safety = s;
      j.safetyId = s.id;
      writeJournal(ctx.dir, j);
      step("checkpoint", `The current state is kept in checkpoint ${s.name} (${s.id})`);
      return s;
    });
  // The workspace stops once every part of the current state is taken (its commit, ref and record
  // are written meanwhile): stopping changes nothing of it, the old container and volume stay.
  const stopped = Promise.race([partsTaken, taken]).then(() =>
    phases.part("stop", async () => {
      step("stop", `Stopping ${r.name}`);
      stopRan = true;
      const t = performance.now();
      // The split: hooks, services and the git sync before it, then the engine's stop (quiet: its kill).
      await ctx.workspaces.stopLocked(r.id, { timeoutSeconds: 10, kill: quiet, beforeEngineStop: () => phases.since("stop-prep", t) });
      // Down now: the workspace's host ports are held at once, until the new container takes them.
      release = await holdPorts(publishedPorts((await prep).spec, engine.publishedHost));
    }),
  );
  // Only once the current state is kept (its record written) and no process of the old container
  // can run (it is down, or quiet: still frozen, its kill under way) do the worktree and the own
  // git index (shared with the old container) change.
  const down = Promise.all([taken, quiet ? partsTaken : stopped, prep]).then(() => {
    j.phase = "worktree";
    writeJournal(ctx.dir, j);
  });
  try {
    const [, , , worktree] = await allSettled([
      taken,
      stopped,
      down,
      down.then(() => {
        step("worktree", j.worktreePath ? `Putting the worktree's files back in ${j.worktreePath}` : "Putting the workspace's files back");
        return phases.part("worktree", async () => {
          if (!j.worktreePath) return { headMoved: false };
          // Before the first file changes here: whatever happens next (done, undone, the daemon
          // killed), the next sync pass makes the workspace's tree equal to this worktree, so sync
          // neither brings back what the restore removed nor removes what it put back.
          sync?.mirrorNext(r);
          return restoreWorktree(j.worktreePath, cp.worktree!);
        });
      }),
      // Made and filled beside all of that: created, not started, it binds no port and touches
      // nothing the old one uses until its tar goes in (after the stop).
      phases.part("re-create", () =>
        ctx.fillContainer(
          cp,
          async () => {
            const { spec } = await prep;
            await engine.createVolume(j.newVolume, spec.labels);
            j.newContainerId = await engine.createContainer(spec);
            writeJournal(ctx.dir, j);
            return j.newContainerId;
          },
          phases,
          {
            ready: () => down,
            extra: async () => {
              const index = gitIndexPart(ctx, cp, await taken);
              gitIndex = index.outcome;
              // The workspace's own files (host key, keys, env) last: start need not copy them in again.
              const { files } = await prep;
              return [...index.parts, ...(files ? [{ from: "entries" as const, entries: files }] : [])];
            },
          },
        ),
      ),
    ] as const);
    headMoved = worktree.headMoved;
    phases.mark("prepare");
  } catch (err) {
    const e = toNexusError(err);
    await release();
    if (!safety) {
      // The automatic checkpoint failed: the workspace was never changed; what was made goes, and a
      // workspace stopped meanwhile (its parts were taken, its record then failed) starts again.
      await undo(ctx, j, undefined);
      if (stopRan && wasUp) await ctx.workspaces.startLocked(r.id).catch((s: Error) => ctx.log.warn(`${r.name}: starting again after a failed restore: ${s.message}`));
      throw err;
    }
    ctx.log.warn(`restore of ${cp.name} onto ${r.name} failed, undoing it: ${e.message}`);
    await undo(ctx, j, safety);
    if (wasUp) await ctx.workspaces.startLocked(r.id).catch((s: Error) => ctx.log.warn(`${r.name}: starting again after a failed restore: ${s.message}`));
    throw new NexusError(e.code, `Restoring checkpoint '${cp.name}' failed, and ${r.name} was left as it was: ${e.message}`, {
      suggestion: `${e.suggestion ?? "See the daemon log"}; the state before is also kept in checkpoint '${safety.name}'`,
      details: { ...e.details, checkpoint: cp.id, safetyCheckpoint: safety.id },
    });
  }
  const safetyCp = safety!;
  j.phase = "switch";
  writeJournal(ctx.dir, j);
  r.containerId = j.newContainerId;
  r.homeVolume = j.newVolume;
  ctx.workspaces.saveRecord(r);
  // The old container is renamed out of the way; it and the old volume are removed while the new
  // one starts (the journal still names them: a daemon killed meanwhile removes them at its start).
  await finishSwitch(ctx, j, { keepOld: true }).catch(async (err) => {
    await release();
    throw err;
  });
  phases.mark("switch");
  step("start", `Starting ${r.name}`);
  const startedAt = performance.now();
  let status: string;
  // The old container and volume are removed while the new container starts (nothing waits on them).
  let cleanup: Promise<void> | undefined;
  const removeOld = () => (cleanup ??= finishSwitch(ctx, j).catch((e: Error) => ctx.log.warn(`${r.name}: removing the old container and home volume after restore: ${e.message}`)));
  try {
    status = (
      await startKeepingPorts(ctx, r.id, progress, !!(await prep).files, phases, async () => {
        await release();
        void removeOld();
      })
    ).status;
  } catch (err) {
    const e = toNexusError(err);
    throw new NexusError(e.code, `Checkpoint '${cp.name}' was restored, but ${r.name} did not start: ${e.message}`, {
      suggestion: `'nexus start ${r.name}' tries again; the state before the restore is in checkpoint '${safetyCp.name}'`,
      details: { ...e.details, checkpoint: cp.id, safetyCheckpoint: safetyCp.id },
    });
  } finally {
    await release();
    await removeOld();
  }
  // What is left after services: the old container's and volume's removal, if it outlasted the start.
  phases.mark("old-removed");
  // The whole start beside its split (start-prep ... services).
  phases.since("start", startedAt);
  const moved = headMoved ? `; the branch had moved since the checkpoint, so its files were put on the current HEAD (${r.branch})` : "";
  const index = GIT_INDEX_NOTES[gitIndex];
  ctx.log.info(`restored ${cp.name} onto ${r.name}${moved}${index ? `; ${index}` : ""} (${phases})`);
  return {
    checkpoint: ctx.view(cp),
    safetyCheckpoint: ctx.view(safetyCp),
    workspaceId: r.id,
    status,
    headMoved,
    durationMs: Math.round(performance.now() - started),
    message: `Restored checkpoint ${cp.name}; the state before is in checkpoint ${safetyCp.name}${moved}${index ? `; ${index}` : ""}`,
    phasesMs: phases.ms,
  };
}

/** What happened to the workspace's own git index (src/git/own-gitdir.ts). */
type GitIndexOutcome = "none" | "restored" | "head-moved" | "head-unknown";
const GIT_INDEX_NOTES: Record<GitIndexOutcome, string> = {
  none: "",
  restored: "",
  "head-moved": "HEAD inside the workspace had moved since the checkpoint, so its git index was left as it is (the files are the checkpoint's)",
  "head-unknown": "the workspace's git index was left as it is (HEAD inside was not known when the checkpoint or the restore was taken: the workspace was stopped)",
};

/**
 * The checkpoint's copy of the workspace's own git index goes back (in the new container's tar,
 * into its view of the own git dir) when HEAD inside is where it was at the checkpoint, as the
 * host's index does; otherwise the index stays the user's and the answer says why.
 */
function gitIndexPart(ctx: RestoreContext, cp: CheckpointRecord, safety: CheckpointRecord): { outcome: GitIndexOutcome; parts: RestorePart[] } {
  const inside = ctx.workspaces.gitIndexInside(ctx.workspaces.resolve(cp.workspaceId));
  if (!cp.ownGit?.indexFile || !inside) return { outcome: "none", parts: [] };
  if (!cp.ownGit.head || !safety.ownGit?.head) return { outcome: "head-unknown", parts: [] };
  if (cp.ownGit.head !== safety.ownGit.head) return { outcome: "head-moved", parts: [] };
  return { outcome: "restored", parts: [{ from: "file", file: cp.ownGit.indexFile, dir: dirname(inside) }] };
}

/** The host ports a container spec publishes, on the address the engine publishes them at. */
function publishedPorts(spec: ContainerSpec, host: string): Array<{ host: string; port: number }> {
  return spec.publish.map((p) => ({ host, port: p.hostPort }));
}

/**
 * Keeps the workspace's host ports bound while no container has them, so another program (or
 * another Nexus on the machine, whose allocator probes by binding) does not take them meanwhile;
 * released right before the new container starts. A port that cannot be bound is left as it is.
 * Answers the release (idempotent).
 */
export async function holdPorts(ports: ReadonlyArray<{ host: string; port: number }>): Promise<() => Promise<void>> {
  const held: Server[] = [];
  await Promise.all(
    ports.map(
      ({ host, port }) =>
        new Promise<void>((resolve) => {
          // A placeholder: nothing it does may end the daemon, so every socket and the server have an error listener.
          const server = createServer((socket) => {
            socket.on("error", () => {});
            socket.destroy();
          });
          server.on("error", () => resolve());
          server.listen({ port, host, exclusive: true }, () => {
            held.push(server);
            resolve();
          });
        }),
    ),
  );
  let released: Promise<void> | undefined;
  return () =>
    (released ??= Promise.all(
      held.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
          }),
      ),
    ).then(() => {}));
}

/**
 * Starts with the workspace's own ports, released by `release` right before the container starts.
 * Another program that takes one in that instant makes the start move the workspace to new ports,
 * its files with it, as any start does (workspace/port-move.ts).
 */
function startKeepingPorts(ctx: RestoreContext, id: string, progress: ProgressSink, filesInstalled: boolean, phases: Phases, release: () => Promise<void>) {
  return ctx.workspaces.startLocked(id, { beforeContainerStart: release, filesInstalled, mark: (phase) => phases.mark(phase) }, progress);
}

/** Before the swap: the new container and volume go, the worktree gets the files it had. */
async function undo(ctx: RestoreContext, j: RestoreJournal, safety: CheckpointRecord | undefined): Promise<void> {
  const engine = ctx.engine(j.engine);
  if (j.phase === "worktree" && j.worktreePath && safety?.worktree) {
    await restoreWorktree(j.worktreePath, safety.worktree);
  }
  // The own git dir is the same bind mount in the old container (stopped, kept): its index goes back through it.
  const inside = ctx.workspaces.list().some((w) => w.id === j.workspaceId) ? ctx.workspaces.gitIndexInside(ctx.workspaces.resolve(j.workspaceId)) : undefined;
  if (j.phase === "worktree" && inside && j.oldContainerId && safety?.ownGit?.indexFile && existsSync(safety.ownGit.indexFile)) {
    await loadArchive(engine, j.oldContainerId, dirname(inside), safety.ownGit.indexFile).catch((e: Error) => ctx.log.warn(`undo restore: the workspace's git index: ${e.message}`));
  }
  // By name when its id was never journaled (the engine made it, the daemon died before writing the id).
  const made = j.newContainerId ?? j.newContainerName;
  if (made) await engine.removeContainer(made).catch((e: Error) => ctx.log.warn(`undo restore: ${e.message}`));
  await engine.removeVolume(j.newVolume).catch((e: Error) => ctx.log.warn(`undo restore: ${e.message}`));
  // A quiet restore cut before its kill left the old container frozen: it runs on, its files as they were.
  if (j.oldContainerId && (await engine.inspect(j.oldContainerId).catch(() => undefined))?.paused && !j.wasPaused) {
    await engine.unpause(j.oldContainerId).catch((e: Error) => ctx.log.warn(`undo restore: thawing the old container: ${e.message}`));
  }
  rmSync(journalFile(ctx.dir, j.workspaceId), { force: true });
}

/** After the record points at the new container and volume: the old ones go, the new container takes the workspace's name. */
async function finishSwitch(ctx: RestoreContext, j: RestoreJournal, opts: { keepOld?: boolean } = {}): Promise<void> {
  const engine = ctx.engine(j.engine);
  const old = j.oldContainerId && j.oldContainerId !== j.newContainerId ? j.oldContainerId : null;
  if (old && opts.keepOld) {
    // Out of the way by a rename (quick); it is removed once the workspace is up.
    const info = await engine.inspect(old);
    if (info?.name === j.containerName) await engine.renameContainer(old, `${j.containerName}-replaced-${j.newVolume.slice(-6)}`);
  } else if (old) {
    await engine.removeContainer(old);
  }
  if (j.newContainerId) {
    // The restore itself (keepOld) made it under another name a moment ago: no need to look.
    const info = opts.keepOld ? { name: "" } : await engine.inspect(j.newContainerId);
    if (info && info.name !== j.containerName) await engine.renameContainer(j.newContainerId, j.containerName);
  }
  // Each step above and below is idempotent: a daemon killed in between does it again at its start.
  if (opts.keepOld) return;
  if (j.oldVolume !== j.newVolume) await engine.removeVolume(j.oldVolume);
  rmSync(journalFile(ctx.dir, j.workspaceId), { force: true });
}

/** The workspaces whose restore a daemon was killed in (their journals are still on disk). */
export function interruptedRestores(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => /^restore-(.+)\.json$/.exec(f)?.[1] ?? []);
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
        // The killed daemon's git may still be writing the worktree's files: the files go back once it is done.
        if (j.phase === "worktree" && j.worktreePath && !(await waitForIndexLocks(j.worktreePath, 30_000))) {
          ctx.log.warn(`reconcile: a git process still holds the index of ${j.worktreePath} after 30 s; putting its files back all the same`);
        }
        await undo(ctx, j, checkpoint(j.safetyId));
        ctx.log.info(`reconcile: undid the restore of ${r?.name ?? j.workspaceId} the daemon was stopped in; its state before is also in checkpoint ${j.safetyId}`);
      }
    } catch (err) {
      ctx.log.warn(`reconcile: interrupted restore ${f}: ${(err as Error).message}`);
    }
  }
}
