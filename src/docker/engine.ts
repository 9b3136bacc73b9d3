import { EventEmitter } from "node:events";
import Docker from "dockerode";
import { NexusError } from "../kernel/errors.ts";
import type { ProgressSink } from "../kernel/progress.ts";
import { engineAddress } from "./connect.ts";
import * as checkpoints from "./checkpoints.ts";
import type { ContainerEngine, ContainerPathStat, ContainerSpec, ContainerState, ContainerStats, ContainerSummary, FsChange, ImageInfo, ImageReader, TarStream, VolumeSummary } from "./container-engine.ts";
import { toCreateOptions } from "./create-options.ts";
import { runInImage } from "./image-run.ts";
import { ImageBuilds } from "./images.ts";
import { LABELS } from "./labels.ts";
import { type RawStats, toContainerStats } from "./stats.ts";
import { tar, type TarEntry } from "./tar.ts";
import { sleep } from "../kernel/poll.ts";
import { LineSplitter, nonBlankLines } from "../kernel/lines.ts";

// Image names and the build-context hash live with the builds; re-exported for existing imports.
export { contextHash, DEFAULT_BASE_IMAGE, DEFAULT_WORKSPACE_IMAGE } from "./images.ts";

/** Thin adapter over dockerode: the only module that talks to the engine. Every engine failure becomes a NexusError. */
export class DockerEngine implements ContainerEngine {
  /** A local engine publishes ports on this machine's loopback only: reached there, and from nowhere else. */
  readonly publishedHost = "127.0.0.1";
  readonly docker: Docker;
  readonly #address: string;
  readonly #images: ImageBuilds;

  readonly #unavailable: ((err: unknown) => NexusError) | undefined;

  /**
   * `description` names the engine in messages when `host` is only the way to it (a remote engine's
   * forwarded socket); `unavailable` then says why it does not answer. `tls`: PEM contents for tcp://.
   */
  constructor(opts: { host?: string; env: Record<string, string | undefined>; description?: string; unavailable?: (err: unknown) => NexusError; tls?: { ca: Buffer; cert: Buffer; key: Buffer } }) {
    const addr = engineAddress(opts.host, opts.env);
    this.#address = opts.description ?? addr.description;
    this.#unavailable = opts.unavailable;
    const { description: _d, ...options } = addr;
    this.docker = new Docker({ ...options, ...(opts.tls ? { protocol: "https", ...opts.tls } : {}) } as Docker.DockerOptions);
    this.#images = new ImageBuilds(this.docker, (what, fn) => this.call(what, fn));
  }

  get address(): string {
    return this.#address;
  }

  async ping(): Promise<{ version: string; ncpu: number; memTotal: number }> {
    try {
      const [version, info] = await Promise.all([this.docker.version(), this.docker.info()]);
      return { version: version.Version, ncpu: info.NCPU, memTotal: info.MemTotal };
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  unavailable(err: unknown): NexusError {
    if (this.#unavailable) return this.#unavailable(err);
    return new NexusError("BACKEND_UNAVAILABLE", `Docker engine at ${this.#address} is not answering: ${(err as Error).message}`, {
      suggestion: "Start Docker (on Debian as root: scripts/docker-up.sh), or set docker.host / DOCKER_HOST; 'nexus doctor' checks it",
      details: { dockerHost: this.#address },
    });
  }

  /** Wraps an engine call so its failures carry the spec's codes. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#wrap(what, err);
    }
  }

  #wrap(what: string, err: unknown): NexusError {
    if (err instanceof NexusError) return err;
    const e = err as { statusCode?: number; code?: string; message?: string; json?: { message?: string } };
    if (e.code === "ENOENT" || e.code === "ECONNREFUSED" || e.code === "EACCES") return this.unavailable(err);
    // A forwarded socket whose far side went away mid-request.
    if (this.#unavailable && (e.code === "ECONNRESET" || e.code === "EPIPE" || /socket hang up/i.test(e.message ?? ""))) return this.unavailable(err);
    // A remote engine's network or TLS handshake (a certificate refused either way) failing.
    if (this.#unavailable && e.statusCode === undefined && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_|^ETIMEDOUT$|^EHOSTUNREACH$|^ENETUNREACH$|^ENOTFOUND$|^EAI_AGAIN$/.test(e.code ?? "")) return this.unavailable(err);
    const message = e.json?.message ?? e.message ?? String(err);
    if (/port is already allocated|address already in use/i.test(message)) {
      return new NexusError("PORT_CONFLICT", `${what}: ${message}`, { suggestion: "Another process holds the port; try again to get another one" });
    }
    return new NexusError("CONTAINER_ERROR", `${what}: ${message}`, {
      suggestion: "See 'nexus doctor' and the daemon log",
      details: { statusCode: e.statusCode },
    });
  }

  /**
   * The workspace image for `base`, built from the Dockerfile held in the binary when missing or
   * when the embedded context changed. Concurrent callers share one build.
   */
  ensureWorkspaceImage(base: string, progress: ProgressSink): Promise<string> {
    return this.#images.ensureWorkspaceImage(base, progress);
  }

  /** A project's own Dockerfile (`dockerfile:` in .nexus/workspace.yaml), built with its folder as the context. */
  buildProjectImage(dockerfile: string, progress: ProgressSink, opts: { context?: string; args?: Record<string, string>; target?: string } = {}): Promise<string> {
    return this.#images.buildProjectImage(dockerfile, progress, opts);
  }

  /** An image of `base` plus local Dev Container Features. */
  buildFeaturesImage(base: string, features: ReadonlyArray<{ id: string; dir: string; options: Record<string, string>; containerEnv: Record<string, string> }>, progress: ProgressSink): Promise<string> {
    return this.#images.buildFeaturesImage(base, features, progress);
  }

  /** The environment an image gives its containers (its ENV lines), for `${containerEnv:...}`. */
  async imageEnv(image: string): Promise<Record<string, string>> {
    const info = await this.call("inspect image", () => this.docker.getImage(image).inspect());
    const env: Record<string, string> = {};
    for (const kv of info.Config?.Env ?? []) {
      const eq = kv.indexOf("=");
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    return env;
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    const c = await this.call("create container", () => this.docker.createContainer(toCreateOptions(spec, this.publishedHost)));
    return c.id;
  }

  /**
   * Runs a one-off container to its end (post-stop hooks): its combined output and exit code; killed
   * after `timeoutMs` (exit code 124). The container is removed whatever happens.
   */
  async runOneOff(spec: ContainerSpec, timeoutMs: number): Promise<{ exitCode: number; output: string; timedOut: boolean }> {
    const id = await this.createContainer(spec);
    const c = this.docker.getContainer(id);
    try {
      await this.call("start one-off container", () => c.start());
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        c.kill().catch(() => {});
      }, timeoutMs);
      const res = (await this.call("wait for one-off container", () => c.wait()).finally(() => clearTimeout(timer))) as { StatusCode: number };
      const buf = (await this.call("read one-off container logs", () => c.logs({ stdout: true, stderr: true }))) as unknown as Buffer;
      return { exitCode: timedOut ? 124 : res.StatusCode, output: demuxToText(this.docker.modem, buf), timedOut };
    } finally {
      await this.removeContainer(id).catch(() => {});
    }
  }

  async putFiles(containerId: string, dir: string, entries: readonly TarEntry[]): Promise<void> {
    await this.call("copy files into container", () => this.docker.getContainer(containerId).putArchive(tar(entries), { path: dir }));
  }

  async statPath(containerId: string, path: string): Promise<ContainerPathStat | undefined> {
    let res: { headers?: Record<string, string | string[] | undefined>; resume?: () => void };
    try {
      res = (await this.docker.getContainer(containerId).infoArchive({ path })) as typeof res;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw this.#wrap("look at a path in the container", err);
    }
    res.resume?.();
    const header = res.headers?.["x-docker-container-path-stat"];
    if (typeof header !== "string") throw new NexusError("CONTAINER_ERROR", "The engine answered a path stat without its X-Docker-Container-Path-Stat header");
    const st = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as { name: string; size: number; mode: number; linkTarget?: string };
    // Go's os.FileMode: ModeDir is bit 31, ModeSymlink bit 27.
    return { name: st.name, size: st.size, mode: st.mode, isDir: (st.mode & 0x80000000) !== 0, isSymlink: (st.mode & 0x8000000) !== 0, linkTarget: st.linkTarget ?? "" };
  }

  async getArchive(containerId: string, path: string): Promise<NodeJS.ReadableStream> {
    return this.call("copy from the container", () => this.docker.getContainer(containerId).getArchive({ path }));
  }

  async putArchive(containerId: string, dir: string, archive: NodeJS.ReadableStream): Promise<void> {
    await this.call("copy into the container", async () => {
      const res = (await this.docker.getContainer(containerId).putArchive(archive, { path: dir })) as unknown;
      // dockerode answers the response stream here: drain it so the request completes.
      if (res && typeof (res as NodeJS.ReadableStream).resume === "function") (res as NodeJS.ReadableStream).resume();
    });
  }

  async start(containerId: string): Promise<void> {
    await this.call("start container", async () => {
      try {
        await this.docker.getContainer(containerId).start();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 304) return; // already running
        throw err;
      }
    });
  }

  /** Stops a container (SIGTERM, then SIGKILL after `timeoutSeconds`); a stopped one is fine. */
  async stop(containerId: string, timeoutSeconds: number): Promise<void> {
    await this.call("stop container", async () => {
      try {
        await this.docker.getContainer(containerId).stop({ t: timeoutSeconds });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 304) throw err; // 304: already stopped
      }
    });
  }

  async kill(containerId: string): Promise<void> {
    const c = this.docker.getContainer(containerId);
    await this.call("kill container", async () => {
      try {
        // The engine sends the signal, then thaws a paused container, and waits for its exit.
        await c.kill({ signal: "SIGKILL" });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 409) throw err; // 409: not running
      }
      // Its exit recorded (immediate for a stopped one): the ports and mounts are let go.
      await c.wait({ condition: "not-running" });
    });
  }

  async pause(containerId: string): Promise<void> {
    await this.call("pause container", () => this.docker.getContainer(containerId).pause());
  }

  async unpause(containerId: string): Promise<void> {
    await this.call("unpause container", () => this.docker.getContainer(containerId).unpause());
  }

  /** Changes CPU and memory limits of a live container (docker update). */
  async updateResources(containerId: string, limits: { nanoCpus: number; memoryBytes: number }): Promise<void> {
    await this.call("update container resources", () =>
      // Memory and its swap limit go together: Docker refuses a memory limit above the current swap limit.
      this.docker.getContainer(containerId).update({ NanoCpus: limits.nanoCpus, Memory: limits.memoryBytes, MemorySwap: limits.memoryBytes * 2 }),
    );
  }

  /** Memory the container uses now, in bytes (one stats sample, without page cache). */
  async memoryUsage(containerId: string): Promise<number> {
    return (await this.stats(containerId)).memoryUsedBytes;
  }

  /** One sample of the container's resource use (CPU from the engine's pre-sample, as `docker stats`). */
  async stats(containerId: string): Promise<ContainerStats> {
    const s = (await this.call("read container stats", () => this.docker.getContainer(containerId).stats({ stream: false }))) as unknown as RawStats;
    return toContainerStats(s);
  }

  /**
   * Docker's own stats stream (a sample about every second) until `signal` aborts or the container
   * stops; faster than asking for one sample at a time, which takes Docker 1-2 s each.
   */
  async streamStats(containerId: string, onSample: (s: ContainerStats) => void, signal: AbortSignal): Promise<void> {
    const stream = (await this.call("read container stats", () => this.docker.getContainer(containerId).stats({ stream: true }))) as unknown as NodeJS.ReadableStream & { destroy(): void };
    await new Promise<void>((resolve, reject) => {
      const split = new LineSplitter();
      const stop = () => {
        stream.destroy();
        resolve();
      };
      if (signal.aborted) return stop();
      signal.addEventListener("abort", stop, { once: true });
      stream.on("data", (chunk: Buffer) => {
        for (const line of split.push(chunk)) if (line.trim()) onSample(toContainerStats(JSON.parse(line) as RawStats));
      });
      stream.on("end", () => (signal.removeEventListener("abort", stop), resolve()));
      stream.on("error", (err: Error) => (signal.aborted ? resolve() : reject(this.#wrap("read container stats", err))));
    });
  }

  async inspect(containerId: string): Promise<ContainerState | undefined> {
    try {
      const { Name, Image, Mounts, State } = await this.docker.getContainer(containerId).inspect();
      return { name: Name.replace(/^\//, ""), image: Image, mountTargets: (Mounts ?? []).map((m) => m.Destination), running: State.Running, paused: State.Paused, exitCode: State.ExitCode };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw this.#wrap("inspect container", err);
    }
  }

  async logsTail(containerId: string, lines: number): Promise<string> {
    try {
      const buf = (await this.docker.getContainer(containerId).logs({ stdout: true, stderr: true, tail: lines })) as unknown as Buffer;
      return demuxToText(this.docker.modem, buf);
    } catch {
      return "";
    }
  }

  /** Removes a container and its anonymous volumes; absent is fine. */
  async removeContainer(containerId: string): Promise<void> {
    await this.call("remove container", async () => {
      try {
        await this.docker.getContainer(containerId).remove({ force: true, v: true });
      } catch (err) {
        const code = (err as { statusCode?: number }).statusCode;
        if (code !== 404 && code !== 409) throw err; // 409: removal already in progress
      }
    });
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    await this.call("create volume", () => this.docker.createVolume({ Name: name, Labels: labels }));
  }

  /**
   * Follows the engine's container events for containers carrying `labels` until `signal` aborts;
   * reconnects by itself when the engine goes away and comes back (dockerd restart).
   */
  // ---- checkpoints (the dockerode side is in checkpoints.ts) ----------------------------------

  containerChanges(containerId: string): Promise<FsChange[]> {
    return checkpoints.containerChanges(this, containerId);
  }

  commitContainer(containerId: string, ref: { repo: string; tag: string; comment: string }, labels: Record<string, string>, blankLabels: readonly string[]): Promise<string> {
    return checkpoints.commitContainer(this, containerId, ref, labels, blankLabels);
  }

  imageInfo(image: string): Promise<ImageInfo | undefined> {
    return checkpoints.imageInfo(this, image);
  }

  removeImage(image: string): Promise<void> {
    return checkpoints.removeImage(this, image);
  }

  listImages(labels: Record<string, string>): Promise<Array<{ id: string; labels: Record<string, string> }>> {
    return checkpoints.listImages(this, labels);
  }

  renameContainer(containerId: string, name: string): Promise<void> {
    return checkpoints.renameContainer(this, containerId, name);
  }

  openImageReader(image: string, labels: Record<string, string>): Promise<ImageReader> {
    return checkpoints.openCheckpointReader(this, image, labels);
  }

  readImagePaths(image: string, paths: readonly string[], labels: Record<string, string>, timeoutMs?: number): Promise<TarStream | undefined> {
    return checkpoints.startTarReader(this, image, paths, labels, timeoutMs);
  }

  runInImage(image: string, entrypoint: string[], cmd: string[], labels: Record<string, string>, timeoutMs?: number): Promise<TarStream | undefined> {
    return runInImage(this, image, entrypoint, cmd, labels, timeoutMs);
  }

  async watchContainerEvents(labels: Record<string, string>, onEvent: (e: { action: string; workspaceId?: string }) => void, signal: AbortSignal, onReconnect?: () => void): Promise<void> {
    const filters = { type: ["container" as const], label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
    let first = true;
    while (!signal.aborted) {
      try {
        const stream = (await this.docker.getEvents({ filters })) as unknown as NodeJS.ReadableStream & { destroy(): void };
        if (!first) onReconnect?.();
        first = false;
        const stop = () => stream.destroy();
        signal.addEventListener("abort", stop, { once: true });
        for await (const line of nonBlankLines(stream as AsyncIterable<Buffer>)) {
          try {
            const e = JSON.parse(line) as { Action?: string; Actor?: { Attributes?: Record<string, string> } };
            onEvent({ action: e.Action ?? "", ...(e.Actor?.Attributes?.[LABELS.workspaceId] ? { workspaceId: e.Actor.Attributes[LABELS.workspaceId] } : {}) });
          } catch {
            // A line that is not an event is skipped.
          }
        }
        signal.removeEventListener("abort", stop);
      } catch {
        // The engine is away; try again shortly.
      }
      await sleep(1000, signal);
    }
  }

  async volumeExists(name: string): Promise<boolean> {
    try {
      await this.docker.getVolume(name).inspect();
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false;
      throw this.#wrap("inspect volume", err);
    }
  }

  async removeVolume(name: string): Promise<void> {
    await this.call("remove volume", async () => {
      try {
        await this.docker.getVolume(name).remove({ force: true });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 404) throw err;
      }
    });
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
    const list = await this.call("list containers", () => this.docker.listContainers({ all: true, filters }));
    return list.map((c) => ({ id: c.Id, name: c.Names[0] ?? c.Id, state: c.State, labels: c.Labels }));
  }

  /**
   * Host ports the engine's containers publish, stopped and paused ones included: a stopped
   * container binds its ports again when it starts, so they are not free for a new workspace.
   */
  async publishedHostPorts(): Promise<number[]> {
    const list = await this.call("list containers", () => this.docker.listContainers({ all: true }));
    const ports = new Set<number>();
    const notRunning: string[] = [];
    for (const c of list) {
      if (c.State === "running") for (const p of c.Ports ?? []) p.PublicPort && ports.add(p.PublicPort);
      else notRunning.push(c.Id);
    }
    // The list shows ports of running containers only; the others' bindings are in their HostConfig.
    await Promise.all(
      notRunning.map(async (id) => {
        const info = await this.docker.getContainer(id).inspect().catch(() => undefined); // removed meanwhile
        for (const bindings of Object.values(info?.HostConfig?.PortBindings ?? {}) as Array<Array<{ HostPort?: string }> | null>) {
          for (const b of bindings ?? []) if (Number(b.HostPort) > 0) ports.add(Number(b.HostPort));
        }
      }),
    );
    return [...ports];
  }

  async listVolumes(labels: Record<string, string>): Promise<VolumeSummary[]> {
    const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
    const r = await this.call("list volumes", () => this.docker.listVolumes({ filters }));
    return ((r.Volumes ?? []) as Array<{ Name: string; Labels: Record<string, string> | null }>).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }
}

/**
 * A container's logs as one text, stdout and stderr in the order written: Docker's own demultiplexer
 * (docker-modem's demuxStream, which passes a TTY's unframed output through) fed the whole buffer.
 */
export function demuxToText(modem: Pick<Docker["modem"], "demuxStream">, buf: Buffer): string {
  const out: Buffer[] = [];
  const sink = { write: (b: Buffer) => out.push(Buffer.from(b)) };
  const source = new EventEmitter();
  // demuxStream handles each "data" event synchronously, so the text is whole once emit returns.
  modem.demuxStream(source as unknown as NodeJS.ReadableStream, sink as unknown as NodeJS.WritableStream, sink as unknown as NodeJS.WritableStream);
  if (buf.length > 0) source.emit("data", buf);
  return Buffer.concat(out).toString("utf8");
}

export type { ContainerStats } from "./container-engine.ts";
