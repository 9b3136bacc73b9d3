import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { basename, dirname, join, relative } from "node:path";
import Docker from "dockerode";
import { NexusError } from "../kernel/errors.ts";
import { readUntrustedBufferSync } from "../fs/untrusted-files.ts";
import type { ProgressSink } from "../kernel/progress.ts";
import { engineAddress } from "./connect.ts";
import type { ContainerEngine, ContainerPathStat, ContainerSpec, ContainerState, ContainerStats, ContainerSummary, VolumeSummary } from "./container-engine.ts";
import { toCreateOptions } from "./create-options.ts";
import { BuildProgress } from "./build-progress.ts";
import { IMAGE_CONTEXT_FILES } from "./image-context.ts";
import { LABELS } from "./labels.ts";
import { shellQuote } from "../ssh/quote.ts";
import { contextEntries } from "./build-context.ts";
import { tar, type TarEntry } from "./tar.ts";
import { sleep } from "../kernel/poll.ts";
import { LineSplitter, nonBlankLines } from "../kernel/lines.ts";

export const DEFAULT_BASE_IMAGE = "debian:bookworm-slim";
export const DEFAULT_WORKSPACE_IMAGE = "nexus-workspace:latest";

/** Thin adapter over dockerode: the only module that talks to the engine. Every engine failure becomes a NexusError. */
export class DockerEngine implements ContainerEngine {
  /** A local engine publishes ports on this machine's loopback only: reached there, and from nowhere else. */
  readonly publishedHost = "127.0.0.1";
  readonly docker: Docker;
  readonly #address: string;
  readonly #builds = new Map<string, Promise<string>>();

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
    // Tagged by content: two Nexus builds sharing an engine each keep their own image instead of
    // rebuilding one shared tag back and forth. `:latest` follows the newest build on the default base.
    const hash = contextHash(base);
    const tag = `nexus-workspace:${hash}`;
    const running = this.#builds.get(hash);
    if (running) return running;
    const build = this.#ensureImage(base, tag, hash, progress).finally(() => this.#builds.delete(hash));
    this.#builds.set(hash, build);
    return build;
  }

  async #ensureImage(base: string, tag: string, hash: string, progress: ProgressSink): Promise<string> {
    const existing = await this.docker.getImage(tag).inspect().catch((err: { statusCode?: number }) => {
      if (err.statusCode === 404) return undefined;
      throw this.#wrap("inspect image", err);
    });
    if (existing?.Config?.Labels?.[LABELS.imageContext] === hash) return tag;
    progress({ phase: "image", message: `Building the workspace image ${tag} from ${base} (first use of this build; a minute or two)` });
    const context = tar(Object.entries(IMAGE_CONTEXT_FILES).map(([name, f]): TarEntry => ({ name, content: f.content, mode: f.mode })));
    const stream = await this.call("build image", () =>
      this.docker.buildImage(context as unknown as NodeJS.ReadableStream, {
        t: tag,
        buildargs: { BASE_IMAGE: base },
        // No dev.nexus.managed here: containers inherit image labels, and only Nexus's own containers may carry it.
        labels: { [LABELS.imageContext]: hash },
        rm: true,
        forcerm: true,
      }),
    );
    await this.#followBuild(stream, progress, (failed) =>
      new NexusError("CONTAINER_ERROR", `Building the workspace image on ${base} failed: ${failed.trim()}`, {
        suggestion: `Make sure the base image is available ('docker pull ${base}'; with no registry: scripts/docker-up.sh makes it from Debian packages)`,
        details: { baseImage: base },
      }),
    );
    if (base === DEFAULT_BASE_IMAGE) {
      const [repo, latest] = DEFAULT_WORKSPACE_IMAGE.split(":") as [string, string];
      await this.call("tag image", () => this.docker.getImage(tag).tag({ repo, tag: latest }));
    }
    return tag;
  }

  #followBuild(stream: NodeJS.ReadableStream, progress: ProgressSink, failure: (message: string) => NexusError): Promise<void> {
    const lines = new BuildProgress(progress);
    return new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null, output: Array<{ error?: string }>) => {
          const failed = err?.message ?? output.find((o) => o.error)?.error;
          if (failed) reject(failure(failed));
          else resolve();
        },
        (event: { stream?: string }) => {
          if (event.stream) lines.feed(event.stream);
        },
      );
    });
  }

  /**
   * Builds a project's own Dockerfile (`dockerfile:` in .nexus/workspace.yaml) with its folder as the
   * context; the workspace image is then built on top of it. Tagged by the context's content, so an
   * unchanged Dockerfile is not built again.
   */
  async buildProjectImage(dockerfile: string, progress: ProgressSink, opts: { context?: string; args?: Record<string, string>; target?: string } = {}): Promise<string> {
    const dir = opts.context ?? dirname(dockerfile);
    const entries = contextEntries(dir, { dockerignore: true, keep: [relative(dir, dockerfile)] });
    // A Dockerfile outside its context (devcontainer.json allows that) travels in the context under a name of its own.
    let name = relative(dir, dockerfile);
    if (name.startsWith("..")) {
      name = ".nexus-project.Dockerfile";
      entries.push({ name, content: readUntrustedBufferSync(dirname(dockerfile), basename(dockerfile)) ?? Buffer.alloc(0), mode: 0o644 });
    }
    const buildargs = opts.args ?? {};
    const context = tar(entries);
    const hash = createHash("sha256").update(context).update(JSON.stringify([name, buildargs, opts.target ?? null])).digest("hex").slice(0, 16);
    const tag = `nexus-project:${hash}`;
    const existing = await this.docker.getImage(tag).inspect().catch(() => undefined);
    if (existing) return tag;
    progress({ phase: "image", message: `Building the project image ${tag} from ${dockerfile}` });
    const stream = await this.call("build project image", () =>
      this.docker.buildImage(context as unknown as NodeJS.ReadableStream, {
        t: tag,
        dockerfile: name,
        labels: { [LABELS.imageContext]: hash },
        rm: true,
        forcerm: true,
        ...(Object.keys(buildargs).length > 0 ? { buildargs } : {}),
        ...(opts.target ? { target: opts.target } : {}),
      }),
    );
    await this.#followBuild(stream, progress, (failed) =>
      new NexusError("CONTAINER_ERROR", `Building the project image from ${dockerfile} failed: ${failed.trim()}`, {
        suggestion: `Fix ${dockerfile} (the workspace image is built on top of it; it must be Debian-based)`,
        details: { dockerfile },
      }),
    );
    return tag;
  }

  /**
   * An image of `base` plus local Dev Container Features: each feature folder is copied in and its
   * install.sh run as root with the options as environment variables (the spec's install model).
   */
  async buildFeaturesImage(base: string, features: ReadonlyArray<{ id: string; dir: string; options: Record<string, string>; containerEnv: Record<string, string> }>, progress: ProgressSink): Promise<string> {
    const entries: TarEntry[] = [];
    const lines = [`FROM ${base}`, "USER root"];
    features.forEach((f, i) => {
      const folder = `features/${i}-${f.id.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
      entries.push({ name: "features", type: "dir", mode: 0o755 }, ...contextEntries(f.dir).map((e) => ({ ...e, name: `${folder}/${e.name}` })));
      // The user the features set up: Nexus's own user does not exist yet (the workspace image adds it on top).
      const env = { ...f.options, _REMOTE_USER: "root", _REMOTE_USER_HOME: "/root", _CONTAINER_USER: "root", _CONTAINER_USER_HOME: "/root" };
      // One Dockerfile line each: values are shell-quoted for RUN; ENV takes JSON strings, with `$` escaped from its own expansion.
      const assignments = Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v.replace(/\n/g, " ")}`)).join(" ");
      lines.push(`COPY ${folder} /tmp/nexus-features/${i}`, `RUN cd /tmp/nexus-features/${i} && chmod +x install.sh && env ${assignments} ./install.sh && rm -rf /tmp/nexus-features/${i}`);
      const containerEnv = Object.entries(f.containerEnv);
      if (containerEnv.length > 0) lines.push(`ENV ${containerEnv.map(([k, v]) => `${k}=${JSON.stringify(v.replace(/\n/g, " ")).replace(/\$/g, "\\$")}`).join(" ")}`);
    });
    entries.push({ name: "Dockerfile", content: lines.join("\n") + "\n", mode: 0o644 });
    const context = tar(entries);
    const hash = createHash("sha256").update(context).digest("hex").slice(0, 16);
    const tag = `nexus-features:${hash}`;
    if (await this.docker.getImage(tag).inspect().catch(() => undefined)) return tag;
    progress({ phase: "image", message: `Installing the features ${features.map((f) => f.id).join(", ")} on ${base}` });
    const stream = await this.call("build features image", () =>
      this.docker.buildImage(context as unknown as NodeJS.ReadableStream, { t: tag, labels: { [LABELS.imageContext]: hash }, rm: true, forcerm: true }),
    );
    await this.#followBuild(stream, progress, (failed) =>
      new NexusError("CONTAINER_ERROR", `Installing the features ${features.map((f) => f.id).join(", ")} failed: ${failed.trim()}`, {
        suggestion: "Fix the feature's install.sh (it runs as root, with its options as environment variables)",
        details: { baseImage: base, features: features.map((f) => f.dir) },
      }),
    );
    return tag;
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
    const stats = (await this.call("read container stats", () => this.docker.getContainer(containerId).stats({ stream: false }))) as unknown as {
      memory_stats?: { usage?: number; stats?: { cache?: number; inactive_file?: number; total_inactive_file?: number } };
    };
    const m = stats.memory_stats ?? {};
    const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? m.stats?.cache ?? 0;
    return Math.max(0, (m.usage ?? 0) - cache);
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

  async listVolumes(labels: Record<string, string>): Promise<VolumeSummary[]> {
    const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
    const r = await this.call("list volumes", () => this.docker.listVolumes({ filters }));
    return ((r.Volumes ?? []) as Array<{ Name: string; Labels: Record<string, string> | null }>).map((v) => ({ name: v.Name, labels: v.Labels ?? {} }));
  }
}

/** Identifies the embedded build context on a base: any change to the Dockerfile or its files changes it. */
export function contextHash(base: string): string {
  const h = createHash("sha256").update(base);
  for (const [name, f] of Object.entries(IMAGE_CONTEXT_FILES)) h.update(`\0${name}\0${f.mode}\0${f.content}`);
  return h.digest("hex").slice(0, 16);
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

interface RawStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: { cache?: number; inactive_file?: number; total_inactive_file?: number } };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op?: string; value?: number }> | null };
  pids_stats?: { current?: number };
}

/** One Docker stats sample as the API reports it. */
function toContainerStats(s: RawStats): ContainerStats {
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus ?? s.cpu_stats?.cpu_usage?.percpu_usage?.length ?? 1;
  const m = s.memory_stats ?? {};
  const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? m.stats?.cache ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op?.toLowerCase() === "read") read += e.value ?? 0;
    if (e.op?.toLowerCase() === "write") write += e.value ?? 0;
  }
  return {
    cpuPercent: cpuDelta > 0 && sysDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0,
    memoryUsedBytes: Math.max(0, (m.usage ?? 0) - cache),
    memoryLimitBytes: m.limit ?? 0,
    networkRxBytes: rx,
    networkTxBytes: tx,
    blockReadBytes: read,
    blockWriteBytes: write,
    pids: s.pids_stats?.current ?? 0,
  };
}
