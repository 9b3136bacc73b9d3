// The engine's side of checkpoints: what changed in a container's filesystem, a commit of it, a
// volume's files as a tar on disk, and bringing those back into a fresh container.
import { createReadStream, createWriteStream, renameSync, rmSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import * as tarStream from "tar-stream";
import { NexusError } from "../kernel/errors.ts";
import type { ContainerEngine, FsChange, ImageInfo, ImageReader, TarStream } from "./container-engine.ts";
import type { DockerEngine } from "./engine.ts";
import { NEXUS_INIT } from "./image-context.ts";
import { runInImage } from "./image-run.ts";
import type { RestorePart } from "./restore-archive.ts";

export type { FsChange } from "./container-engine.ts";

export const CHECKPOINT_LABELS = {
  id: "dev.nexus.checkpoint.id",
  instance: "dev.nexus.checkpoint.instance",
  workspaceId: "dev.nexus.checkpoint.workspace.id",
} as const;

/** Where a restored container finds the paths to delete at its next start (nexus-init applies and removes it). */
export const DELETIONS_FILE = "/etc/nexus/restore-deletions";

/**
 * Paths of a workspace container whose changes are never carried to another container (a
 * checkpoint, a move to new ports): the daemon writes them at every start, or Docker does, or they
 * are run-time state of processes that do not come back (/run: pid files, sockets).
 */
export const NOT_HELD = ["/etc/nexus", "/etc/environment", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/usr/local/lib/nexus", "/proc", "/sys", "/dev", "/run", "/var/run"];

/** A container's filesystem changes reduced to the top paths to copy and to delete. */
export interface RootfsChanges {
  copy: string[];
  remove: string[];
}

/**
 * Reduces `docker diff` to what re-creates the changes on a fresh container of the same image: an
 * added directory is copied whole (its children are left out), a changed directory only through its
 * changed children, a deleted tree by its top. Paths under `exclude` (mounts, files the daemon
 * writes at every start) are left out, and so are the directories that lead to them.
 */
export function reduceChanges(changes: readonly FsChange[], exclude: readonly string[]): RootfsChanges {
  const under = (p: string, top: string) => p === top || p.startsWith(top === "/" ? "/" : `${top}/`);
  const sorted = [...changes].filter((c) => !exclude.some((x) => under(c.Path, x))).sort((a, b) => a.Path.localeCompare(b.Path));
  const paths = sorted.map((c) => c.Path);
  const copy: string[] = [];
  const remove: string[] = [];
  const covered = (p: string, tops: readonly string[]) => tops.some((t) => under(p, t));
  for (let i = 0; i < sorted.length; i++) {
    const { Path: p, Kind: kind } = sorted[i]!;
    if (covered(p, copy) || covered(p, remove)) continue;
    // A directory on the way to a mount is made by Docker for the mount; its other children are listed on their own.
    if (kind !== 2 && exclude.some((x) => x.startsWith(`${p}/`))) continue;
    if (kind === 2) remove.push(p);
    else if (kind === 1) copy.push(p);
    // A changed directory with changed children is handled through them; otherwise it is copied (a mode change, ...).
    else if (!paths.some((q, j) => j !== i && q.startsWith(`${p}/`))) copy.push(p);
  }
  return { copy, remove };
}

// The functions taking a DockerEngine are its implementation of the ContainerEngine checkpoint calls
// (engine.ts delegates to them); the core reaches them only through the interface.

export async function containerChanges(engine: DockerEngine, containerId: string): Promise<FsChange[]> {
  const changes = await engine.call("list container changes", () => engine.docker.getContainer(containerId).changes());
  return (changes ?? []) as FsChange[];
}

/**
 * Commits the container (already frozen or stopped by the caller) as nexus-checkpoint:<id>. The
 * container's labels would be inherited by the image and by containers made from it: the workspace
 * ones are blanked, the checkpoint's set.
 */
export async function commitContainer(engine: DockerEngine, containerId: string, ref: { repo: string; tag: string; comment: string }, labels: Record<string, string>, blank: readonly string[]): Promise<string> {
  const set = [...blank.map((k) => `${k}=""`), ...Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`)];
  const res = (await engine.call("commit container", () =>
    engine.docker.getContainer(containerId).commit({ repo: ref.repo, tag: ref.tag, pause: false, comment: ref.comment, changes: [`LABEL ${set.join(" ")}`] }),
  )) as { Id?: string; id?: string };
  return (res.Id ?? res.id ?? "").toString();
}

export async function imageInfo(engine: DockerEngine, image: string): Promise<ImageInfo | undefined> {
  try {
    const i = await engine.docker.getImage(image).inspect();
    return { id: i.Id, size: i.Size, layers: i.RootFS?.Layers?.length ?? 0, parent: i.Parent ?? "" };
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    return engine.call("inspect image", () => Promise.reject(err));
  }
}

export async function removeImage(engine: DockerEngine, image: string): Promise<void> {
  await engine.call("remove checkpoint image", async () => {
    try {
      await engine.docker.getImage(image).remove({ force: true });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  });
}

export async function listImages(engine: DockerEngine, labels: Record<string, string>): Promise<Array<{ id: string; labels: Record<string, string> }>> {
  const images = await engine.call("list images", () => engine.docker.listImages({ filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) } }));
  return images.map((i) => ({ id: i.Id, labels: i.Labels ?? {} }));
}

/** This instance's checkpoint images on `engine`. */
export async function listCheckpointImages(engine: ContainerEngine, instance: string): Promise<Array<{ id: string; checkpointId: string }>> {
  const images = await engine.listImages({ [CHECKPOINT_LABELS.instance]: instance });
  return images.map((i) => ({ id: i.id, checkpointId: i.labels[CHECKPOINT_LABELS.id] ?? "" }));
}

/** The files under `path` in the container (a stopped or frozen one) as a tar at `file`; its size. */
export async function saveArchive(engine: ContainerEngine, containerId: string, path: string, file: string): Promise<number> {
  const bytes = await saveArchiveIfExists(engine, containerId, path, file, true);
  if (bytes !== undefined) return bytes;
  throw new NexusError("CONTAINER_ERROR", `read files from container: ${path} does not exist in the container`, { suggestion: "See 'nexus doctor' and the daemon log" });
}

/** As saveArchive; undefined (and no file) when `path` does not exist in the container (`known`: it does, no need to look). */
export async function saveArchiveIfExists(engine: ContainerEngine, containerId: string, path: string, file: string, known = false): Promise<number | undefined> {
  if (!known && !(await engine.statPath(containerId, path))) return undefined;
  const stream = await engine.getArchive(containerId, path);
  const tmp = `${file}.partial`;
  let bytes = 0;
  stream.on("data", (b: Buffer) => void (bytes += b.length));
  try {
    await pipeline(stream, createWriteStream(tmp, { mode: 0o600 }));
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new NexusError("BACKEND_UNAVAILABLE", `Reading ${path} from the container on ${engine.address} broke off: ${(err as Error).message}`, {
      suggestion: "Check that the engine answers ('nexus engines'), then try again",
      details: { engine: engine.address },
    });
  }
  return bytes;
}

/** Unpacks a tar from `file` into `dir` of the container, numeric owners kept. */
export async function loadArchive(engine: ContainerEngine, containerId: string, dir: string, file: string): Promise<void> {
  const input = createReadStream(file);
  input.on("error", () => {}); // reported by putArchive's rejection
  try {
    await engine.putArchive(containerId, dir, input);
  } finally {
    input.destroy();
  }
}


/** A container made from a checkpoint image (never started) to read its files from; remove() when done. */
export type CheckpointReader = ImageReader;

/** The reader of `image`: made beside the target container (restore makes both at once). */
export async function openCheckpointReader(engine: DockerEngine, image: string, labels: Record<string, string>): Promise<CheckpointReader> {
  const d = engine.docker;
  const from = await engine.call("create container", () => d.createContainer({ Image: image, Entrypoint: ["/bin/true"], Cmd: [], Labels: labels, NetworkDisabled: true }));
  return { id: from.id, remove: () => from.remove({ force: true }).catch(() => {}) };
}

/**
 * What brings a checkpoint's filesystem changes into a fresh container of the same base image, as
 * parts of one restore archive: each changed path read from the reader (a container of the
 * checkpoint image), and the paths to delete left in DELETIONS_FILE with the init that applies them.
 */
export function changesParts(reader: CheckpointReader | undefined, changes: RootfsChanges, init: { path: string; content: string }): RestorePart[] {
  if (changes.copy.length > 0 && !reader) throw new Error("changesParts: paths to copy need a reader of the checkpoint image");
  const parts: RestorePart[] = changes.copy.map((path) => ({ from: "container", containerId: reader!.id, path }));
  if (changes.remove.length > 0) {
    parts.push({
      from: "entries",
      entries: [
        { name: DELETIONS_FILE.slice(1), content: changes.remove.join("\0") + "\0", mode: 0o600 },
        // This binary's init applies the list, whatever build made the image.
        { name: init.path.slice(1), content: init.content, mode: 0o755 },
      ],
    });
  }
  return parts;
}

/**
 * The parts that bring `changes` (of a container committed as `image`) into a fresh container of the
 * image it was made from: the changed paths in one tar made by the image's own `tar`, or, in an
 * image without tar, path by path through a reader container (removed once the parts are read).
 * `labels`: the throwaway containers' (checkpoint-read, so reconcile removes one a killed daemon left).
 */
export async function* imageChangesParts(engine: ContainerEngine, image: string, changes: RootfsChanges, labels: Record<string, string>, onPathByPath?: (paths: number) => void): AsyncGenerator<RestorePart> {
  let reader: CheckpointReader | undefined;
  try {
    const tar = changes.copy.length > 0 ? await engine.readImagePaths(image, changes.copy, labels) : undefined;
    if (tar) yield { from: "stream", ...tar };
    else if (changes.copy.length > 0) {
      onPathByPath?.(changes.copy.length);
      reader = await engine.openImageReader(image, labels);
    }
    yield* changesParts(reader, { copy: tar ? [] : changes.copy, remove: changes.remove }, { path: "/usr/local/sbin/nexus-init", content: NEXUS_INIT });
  } finally {
    await reader?.remove();
  }
}

/** The content of the regular file `path` of a container (stopped or running), through the archive API. */
export async function readContainerFile(engine: ContainerEngine, containerId: string, path: string): Promise<Buffer> {
  const archive = await engine.getArchive(containerId, path);
  return new Promise((resolve, reject) => {
    const extract = tarStream.extract();
    const chunks: Buffer[] = [];
    extract.on("entry", (header, body, next) => {
      if (header.type === "file") body.on("data", (b: Buffer) => chunks.push(b));
      body.on("end", next);
      body.resume();
    });
    extract.on("finish", () => resolve(Buffer.concat(chunks)));
    extract.on("error", reject);
    archive.on("error", reject);
    archive.pipe(extract);
  });
}

/**
 * The changed paths of a checkpoint image as ONE tar stream, made by the image's own `tar` in a
 * throwaway container (root, no network, no log kept): one container start instead of one archive
 * read per path (each mounts the reader's filesystem and starts the engine's helper). Answers
 * undefined when the container cannot start (no tar in the image): the caller reads path by path.
 * `done` waits for tar's end (a failure rejects it) and removes the container; call it in any case
 * (with false when the stream was not read to its end).
 */
export function startTarReader(
  engine: DockerEngine,
  image: string,
  paths: readonly string[],
  labels: Record<string, string>,
  timeoutMs = 600_000,
): Promise<TarStream | undefined> {
  const rel = paths.map((p) => p.replace(/^\/+/, ""));
  return runInImage(engine, image, ["tar"], ["-c", "-f", "-", "-C", "/", "--", ...rel], labels, timeoutMs);
}

export async function renameContainer(engine: DockerEngine, containerId: string, name: string): Promise<void> {
  await engine.call("rename container", () => engine.docker.getContainer(containerId).rename({ name }));
}
