// What the core asks of a container engine, in its own words: no dockerode type crosses this line.
// DockerEngine (engine.ts) is the local implementation; a remote engine is another.
import type { ProgressSink } from "../kernel/progress.ts";
import type { TarEntry } from "./tar.ts";

/** A bind mount of a host path, a named volume, or a tmpfs (no source). */
export interface MountSpec {
  type: "bind" | "volume" | "tmpfs";
  source: string;
  target: string;
  readOnly?: boolean;
}

/** A container port published on a host port; the engine decides on which of its addresses. */
export interface PublishSpec {
  containerPort: number;
  hostPort: number;
}

export interface ContainerSpec {
  /** The engine names it when absent. */
  name?: string;
  image: string;
  hostname?: string;
  labels: Record<string, string>;
  /** KEY=value lines. */
  env: string[];
  /** uid:gid; the image's user when absent. */
  user?: string;
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
  publish: PublishSpec[];
  mounts: MountSpec[];
  /** In-memory filesystems by target, with their mount options (mode=, uid=, size=): what is written there never reaches a layer, a commit or an image. */
  tmpfs?: Record<string, string>;
  /** Started again by the engine after a crash or an engine restart, until stopped by hand. */
  restartUnlessStopped?: boolean;
  /** A tiny init as PID 1 that reaps zombies and forwards signals. */
  init?: boolean;
  nanoCpus?: number;
  memoryBytes: number;
  /** A network by name; the engine's default when absent. */
  network?: string;
  /**
   * Locked down: no setuid/setgid files, device nodes or file capabilities, no new privileges unless
   * `sudo`, at most `pidsLimit` processes (how is the engine's business: docker/hardening.ts).
   */
  hardening?: { sudo: boolean; pidsLimit: number };
  /**
   * What a project's devcontainer.json adds (config/devcontainer/container.ts checked it): capabilities
   * and security options join the hardening's, never replace them.
   */
  projectOptions?: ProjectContainerOptions;
}

export interface ProjectContainerOptions {
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  extraHosts: string[];
  shmSize?: number;
  ulimits: Array<{ name: string; soft: number; hard: number }>;
}

/** A container's state as the core needs it. */
export interface ContainerState {
  /** Its name, without Docker's leading slash. */
  name: string;
  /** The id of the image it runs. */
  image: string;
  /** Where its mounts are inside. */
  mountTargets: string[];
  running: boolean;
  paused: boolean;
  exitCode: number;
}

export interface ContainerSummary {
  id: string;
  /** The first of its names (for messages). */
  name: string;
  /** "running", "paused", "exited", "created", ... */
  state: string;
  labels: Record<string, string>;
}

export interface VolumeSummary {
  name: string;
  labels: Record<string, string>;
}

export interface ContainerStats {
  cpuPercent: number;
  memoryUsedBytes: number;
  memoryLimitBytes: number;
  networkRxBytes: number;
  networkTxBytes: number;
  blockReadBytes: number;
  blockWriteBytes: number;
  pids: number;
}

/** A path in a container as the engine's archive stat gives it (mode holds Go's os.FileMode bits). */
export interface ContainerPathStat {
  name: string;
  size: number;
  mode: number;
  isDir: boolean;
  isSymlink: boolean;
  linkTarget: string;
}

/** A change in a container's filesystem since its image (docker diff): Kind 0 changed, 1 added, 2 deleted. */
export interface FsChange {
  Path: string;
  Kind: number;
}

/** An image as checkpoints need it: its id, size, layer count and parent. */
export interface ImageInfo {
  id: string;
  size: number;
  layers: number;
  parent: string;
}

/** A container made from an image (never started) to read its files through the archive API; remove() when done. */
export interface ImageReader {
  id: string;
  remove(): Promise<void>;
}

/** A tar stream being made; `done` waits for its maker's end (a failure rejects) and frees it; call it in any case (false: not read to its end). */
export interface TarStream {
  stream: NodeJS.ReadableStream;
  done: (read: boolean) => Promise<void>;
}

export interface ContainerEngine {
  /** Where the engine is, for messages (unix:///var/run/docker.sock, ssh://host, ...). */
  readonly address: string;
  /** The host at which the daemon reaches this engine's published ports. */
  readonly publishedHost: string;
  ping(): Promise<{ version: string; ncpu: number; memTotal: number }>;
  /** The workspace image for `base` (built from the embedded context when missing); answers its tag. */
  ensureWorkspaceImage(base: string, progress: ProgressSink): Promise<string>;
  /** The image of a project's Dockerfile (context, build args and target as devcontainer.json gives them); answers its tag. */
  buildProjectImage(dockerfile: string, progress: ProgressSink, opts?: { context?: string; args?: Record<string, string>; target?: string }): Promise<string>;
  /** `base` plus local Dev Container Features (each one's install.sh run as root); answers its tag. */
  buildFeaturesImage(base: string, features: ReadonlyArray<{ id: string; dir: string; options: Record<string, string>; containerEnv: Record<string, string> }>, progress: ProgressSink): Promise<string>;
  /** The environment an image gives its containers (its ENV lines). */
  imageEnv(image: string): Promise<Record<string, string>>;
  /** Creates a container; answers its id. */
  createContainer(spec: ContainerSpec): Promise<string>;
  /** Runs a container to its end and removes it: combined output and exit code (124 after `timeoutMs`). */
  runOneOff(spec: ContainerSpec, timeoutMs: number): Promise<{ exitCode: number; output: string; timedOut: boolean }>;
  putFiles(containerId: string, dir: string, entries: readonly TarEntry[]): Promise<void>;
  /** What is at `path` in the container (docker cp's stat), or undefined when nothing is. */
  statPath(containerId: string, path: string): Promise<ContainerPathStat | undefined>;
  /** `path` in the container as a tar stream whose root entry is its basename (docker cp's source side). */
  getArchive(containerId: string, path: string): Promise<NodeJS.ReadableStream>;
  /** Extracts the tar `archive` into the directory `dir` in the container (docker cp's target side). */
  putArchive(containerId: string, dir: string, archive: NodeJS.ReadableStream): Promise<void>;
  start(containerId: string): Promise<void>;
  stop(containerId: string, timeoutSeconds: number): Promise<void>;
  /**
   * SIGKILL to the container's processes, answered once it has exited; a stopped one is fine. A
   * frozen (paused) container's processes end without running again: the signal is sent before the
   * engine thaws them.
   */
  kill(containerId: string): Promise<void>;
  pause(containerId: string): Promise<void>;
  unpause(containerId: string): Promise<void>;
  updateResources(containerId: string, limits: { nanoCpus: number; memoryBytes: number }): Promise<void>;
  memoryUsage(containerId: string): Promise<number>;
  stats(containerId: string): Promise<ContainerStats>;
  streamStats(containerId: string, onSample: (s: ContainerStats) => void, signal: AbortSignal): Promise<void>;
  /** The container's state, or undefined when it does not exist. */
  inspect(containerId: string): Promise<ContainerState | undefined>;
  logsTail(containerId: string, lines: number): Promise<string>;
  removeContainer(containerId: string): Promise<void>;
  createVolume(name: string, labels: Record<string, string>): Promise<void>;
  volumeExists(name: string): Promise<boolean>;
  removeVolume(name: string): Promise<void>;
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
  listVolumes(labels: Record<string, string>): Promise<VolumeSummary[]>;
  // ---- checkpoints (src/core/checkpoints/): a commit on the workspace's original image, its diff, images by label

  /** What changed in the container's filesystem since its image (docker diff). */
  containerChanges(containerId: string): Promise<FsChange[]>;
  /**
   * Commits the container (frozen or stopped by the caller) as `repo:tag`; answers the image id. The
   * container's labels would be inherited by the image: `blankLabels` are emptied, `labels` set.
   */
  commitContainer(containerId: string, ref: { repo: string; tag: string; comment: string }, labels: Record<string, string>, blankLabels: readonly string[]): Promise<string>;
  /** The image, or undefined when the engine has none by that name or id. */
  imageInfo(image: string): Promise<ImageInfo | undefined>;
  /** Removes the image (forced); one that is not there is not an error. */
  removeImage(image: string): Promise<void>;
  /** Images carrying every label of `labels`. */
  listImages(labels: Record<string, string>): Promise<Array<{ id: string; labels: Record<string, string> }>>;
  renameContainer(containerId: string, name: string): Promise<void>;
  /** A container of `image`, never started, to read its files with getArchive. */
  openImageReader(image: string, labels: Record<string, string>): Promise<ImageReader>;
  /**
   * `paths` of `image` as ONE tar stream rooted at `/`, made by the image's own `tar` in a throwaway
   * container; undefined when that container cannot start (no tar in the image).
   */
  readImagePaths(image: string, paths: readonly string[], labels: Record<string, string>, timeoutMs?: number): Promise<TarStream | undefined>;
  /**
   * `entrypoint cmd` run once in a throwaway container of `image` (root, no network, no log), its
   * standard output streamed; undefined when that container cannot start (the image lacks the program).
   */
  runInImage(image: string, entrypoint: string[], cmd: string[], labels: Record<string, string>, timeoutMs?: number): Promise<TarStream | undefined>;
  /** Container events for containers carrying `labels` until `signal` aborts; reconnects by itself. */
  watchContainerEvents(labels: Record<string, string>, onEvent: (e: { action: string; workspaceId?: string }) => void, signal: AbortSignal, onReconnect?: () => void): Promise<void>;
}

/** What `nexus engines` says about a configured engine before asking it anything. */
export interface EngineInfo {
  name: string;
  host: string;
  /** On another machine (ssh://, tcp://): no path of this host is mounted into it; the worktree is synced. */
  remote: boolean;
  /** Workspaces can run on it (not on a tcp:// engine without TLS: see `refusal`). */
  workspaces: boolean;
  /** Why workspaces cannot run on it, and what to do instead (when `workspaces` is false). */
  refusal?: { message: string; suggestion: string };
}

/** The engines by name: `local` (docker.host) and the config's `engines:`. */
export interface EngineDirectory {
  names(): string[];
  has(name: string): boolean;
  info(name: string): EngineInfo;
  isRemote(name: string | undefined): boolean;
  /** The engine by name (undefined: local); INVALID_ARGUMENT for a name the config does not hold. */
  get(name: string | undefined): ContainerEngine;
  /** Closes connections to remote engines (daemon exit). */
  close?(): void;
}
