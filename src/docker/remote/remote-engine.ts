// An engine on another machine, reached through a tunnel (tunnel.ts: ssh:// over one pooled SSH
// connection, tcp:// with TLS through the Docker API alone). What differs from a local engine is here:
//   - no host path is ever mounted into it (the worktree is not on that machine): a bind mount is refused;
//   - a container's ports stay on that machine (ssh://: published on the remote's 127.0.0.1 at ports
//     the remote engine picks; tcp://: not published at all) and the daemon holds 127.0.0.1:<the
//     recorded host port> here, each connection carried by the tunnel. So ssh_config, `nexus proxy`,
//     service URLs and forwards work as for a local workspace, and nothing of the remote is opened to
//     its network. Which local port serves which container port is kept in a label of the container,
//     so a restarted daemon listens again.
//   - the workspace image is built there from the embedded Dockerfile; when that machine has no base
//     image (no registry), the local engine's image is streamed over (get → load).
import type { ProgressSink } from "../../kernel/progress.ts";
import { NexusError } from "../../kernel/errors.ts";
import type { ContainerEngine, ContainerPathStat, ContainerSpec, ContainerState, ContainerStats, ContainerSummary, FsChange, ImageInfo, ImageReader, TarStream, VolumeSummary } from "../container-engine.ts";
import { contextHash, DockerEngine } from "../engine.ts";
import type { TarEntry } from "../tar.ts";
import type { EngineTunnel } from "./tunnel.ts";

/** Container port → the daemon's local 127.0.0.1 port, as `22=32801,8080=32802`. */
export const LOCAL_PORTS_LABEL = "dev.nexus.remote.local-ports";

export function formatLocalPorts(map: ReadonlyArray<{ containerPort: number; hostPort: number }>): string {
  return map.map((p) => `${p.containerPort}=${p.hostPort}`).join(",");
}

export function parseLocalPorts(text: string | undefined): Array<{ containerPort: number; hostPort: number }> {
  const out: Array<{ containerPort: number; hostPort: number }> = [];
  for (const pair of (text ?? "").split(",")) {
    const m = /^(\d{1,5})=(\d{1,5})$/.exec(pair.trim());
    if (m) out.push({ containerPort: Number(m[1]), hostPort: Number(m[2]) });
  }
  return out;
}

export class RemoteEngine implements ContainerEngine {
  readonly name: string;
  /** The daemon reaches a remote workspace's ports at its own loopback listeners. */
  readonly publishedHost = "127.0.0.1";
  readonly remote = true;
  readonly tunnel: EngineTunnel;
  readonly inner: DockerEngine;
  readonly #local: () => DockerEngine;
  /** Local ports held for each container. */
  readonly #localPorts = new Map<string, number[]>();
  /**
   * Which container (and which of its ports) each local listener serves now. A container made to
   * replace another with the same ports (a checkpoint restore) takes the listeners over at its start;
   * the old one's removal then leaves them alone.
   */
  readonly #portOwner = new Map<number, { id: string; containerPort: number }>();

  /** `inner` speaks the engine's API (through the tunnel's relay socket, or over TLS itself). */
  constructor(name: string, tunnel: EngineTunnel, inner: DockerEngine, local: () => DockerEngine) {
    this.name = name;
    this.tunnel = tunnel;
    this.inner = inner;
    this.#local = local;
  }

  get address(): string {
    return this.tunnel.address;
  }

  /** The tunnel up (BACKEND_UNAVAILABLE with a suggestion otherwise). */
  async #up(): Promise<DockerEngine> {
    await this.tunnel.up();
    return this.inner;
  }

  async ping(): Promise<{ version: string; ncpu: number; memTotal: number }> {
    return (await this.#up()).ping();
  }

  async ensureWorkspaceImage(base: string, progress: ProgressSink): Promise<string> {
    const e = await this.#up();
    const tag = `nexus-workspace:${contextHash(base)}`;
    if (await this.#hasImage(tag)) return tag;
    if (await this.#hasImage(base)) return e.ensureWorkspaceImage(base, progress);
    // No base image there (and maybe no registry): the image made here goes over the connection.
    const local = this.#local();
    const built = await local.ensureWorkspaceImage(base, progress);
    progress({ phase: "image", message: `Copying the workspace image ${built} to engine '${this.name}' (it has no ${base})` });
    await this.#copyImage(local, built);
    return built;
  }

  async #hasImage(ref: string): Promise<boolean> {
    return this.inner.call("inspect image", () =>
      this.inner.docker
        .getImage(ref)
        .inspect()
        .then(
          () => true,
          (err: { statusCode?: number }) => {
            if (err.statusCode === 404) return false;
            throw err;
          },
        ),
    );
  }

  async #copyImage(from: DockerEngine, ref: string): Promise<void> {
    const stream = (await from.call("save image", () => from.docker.getImage(ref).get())) as NodeJS.ReadableStream;
    const res = (await this.inner.call("load image", () => this.inner.docker.loadImage(stream, { quiet: true }))) as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) => {
      res.on("data", () => {});
      res.on("end", () => resolve());
      res.on("error", reject);
    });
    if (!(await this.#hasImage(ref))) throw new NexusError("CONTAINER_ERROR", `Copying ${ref} to engine '${this.name}' did not leave it there`, { suggestion: "See the daemon log" });
  }

  async buildProjectImage(dockerfile: string, progress: ProgressSink, opts?: { context?: string; args?: Record<string, string>; target?: string }): Promise<string> {
    return (await this.#up()).buildProjectImage(dockerfile, progress, opts);
  }

  async buildFeaturesImage(base: string, features: ReadonlyArray<{ id: string; dir: string; options: Record<string, string>; containerEnv: Record<string, string> }>, progress: ProgressSink): Promise<string> {
    return (await this.#up()).buildFeaturesImage(base, features, progress);
  }

  async imageEnv(image: string): Promise<Record<string, string>> {
    return (await this.#up()).imageEnv(image);
  }

  #refuseHostPaths(spec: ContainerSpec): void {
    const bind = spec.mounts.find((m) => m.type === "bind");
    if (bind) {
      throw new NexusError("INVALID_ARGUMENT", `Engine '${this.name}' is on another machine: ${bind.source} of this machine cannot be mounted at ${bind.target} there`, {
        suggestion: "Use a named volume (devcontainer.json mounts of type volume), or create the workspace on the local engine",
        details: { engine: this.name, mount: bind.target },
      });
    }
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    this.#refuseHostPaths(spec);
    const e = await this.#up();
    // The remote engine picks its own free ports (hostPort 0), or nothing is published when the tunnel
    // reaches ports from inside; ours are held here and recorded in a label.
    const id = await e.createContainer({
      ...spec,
      labels: { ...spec.labels, [LOCAL_PORTS_LABEL]: formatLocalPorts(spec.publish) },
      publish: this.tunnel.publishes ? spec.publish.map((p) => ({ containerPort: p.containerPort, hostPort: 0 })) : [],
    });
    // Listened on at start, as a local engine binds its ports at start: a port taken meanwhile is a
    // PORT_CONFLICT there, which create answers with new ports.
    return id;
  }

  async #listenFor(id: string, ports: ReadonlyArray<{ containerPort: number; hostPort: number }>): Promise<void> {
    const held: number[] = [];
    for (const p of ports) {
      // Owned before any await: a removal of the container it replaces leaves it alone from now on.
      const before = this.#portOwner.get(p.hostPort);
      this.#portOwner.set(p.hostPort, { id, containerPort: p.containerPort });
      // A listener still serving another container (the one a checkpoint restore replaced) is made
      // again for this one: the tunnel's listener is bound to the container it was made for.
      if (before && before.id !== id) this.tunnel.unlisten(p.hostPort);
      if (!this.tunnel.listening(p.hostPort)) {
        try {
          await this.tunnel.listen(p.hostPort, id, p.containerPort);
        } catch (err) {
          if (this.#portOwner.get(p.hostPort)?.id === id) this.#portOwner.delete(p.hostPort);
          for (const port of held) this.#release(port, id);
          throw new NexusError("PORT_CONFLICT", `127.0.0.1:${p.hostPort} on this machine, for port ${p.containerPort} of a workspace on engine '${this.name}': ${(err as Error).message}`, {
            suggestion: "Another process holds the port; try again to get another one",
          });
        }
      }
      held.push(p.hostPort);
    }
    this.#localPorts.set(id, held);
  }

  /** Stops listening on `port` unless another container took it over meanwhile. */
  #release(port: number, id: string): void {
    if (this.#portOwner.get(port)?.id !== id) return;
    this.tunnel.unlisten(port);
    this.#portOwner.delete(port);
  }

  async runOneOff(spec: ContainerSpec, timeoutMs: number): Promise<{ exitCode: number; output: string; timedOut: boolean }> {
    this.#refuseHostPaths(spec);
    return (await this.#up()).runOneOff(spec, timeoutMs);
  }

  async putFiles(containerId: string, dir: string, entries: readonly TarEntry[]): Promise<void> {
    return (await this.#up()).putFiles(containerId, dir, entries);
  }

  // nexus cp: the archive API streams through the relay socket, over the same connection.
  async statPath(containerId: string, path: string): Promise<ContainerPathStat | undefined> {
    return (await this.#up()).statPath(containerId, path);
  }

  async getArchive(containerId: string, path: string): Promise<NodeJS.ReadableStream> {
    return (await this.#up()).getArchive(containerId, path);
  }

  async putArchive(containerId: string, dir: string, archive: NodeJS.ReadableStream): Promise<void> {
    return (await this.#up()).putArchive(containerId, dir, archive);
  }

  async start(containerId: string): Promise<void> {
    await (await this.#up()).start(containerId);
    // New ports on every start; and a restarted daemon listens again.
    this.tunnel.forget(containerId);
    await this.#relisten(containerId);
  }

  /** The container's listeners here (from its label: also for a container made before this daemon started). */
  async #relisten(containerId: string): Promise<void> {
    const ports = this.#localPorts.get(containerId);
    if (ports && ports.every((p) => this.#portOwner.get(p)?.id === containerId)) return;
    const info = (await this.inner.call("inspect container", () => this.inner.docker.getContainer(containerId).inspect())) as { Config?: { Labels?: Record<string, string> } };
    await this.#listenFor(containerId, parseLocalPorts(info.Config?.Labels?.[LOCAL_PORTS_LABEL]));
  }

  async stop(containerId: string, timeoutSeconds: number): Promise<void> {
    return (await this.#up()).stop(containerId, timeoutSeconds);
  }

  async kill(containerId: string): Promise<void> {
    return (await this.#up()).kill(containerId);
  }

  async pause(containerId: string): Promise<void> {
    return (await this.#up()).pause(containerId);
  }

  async unpause(containerId: string): Promise<void> {
    return (await this.#up()).unpause(containerId);
  }

  async updateResources(containerId: string, limits: { nanoCpus: number; memoryBytes: number }): Promise<void> {
    return (await this.#up()).updateResources(containerId, limits);
  }

  async memoryUsage(containerId: string): Promise<number> {
    return (await this.#up()).memoryUsage(containerId);
  }

  async stats(containerId: string): Promise<ContainerStats> {
    return (await this.#up()).stats(containerId);
  }

  async streamStats(containerId: string, onSample: (s: ContainerStats) => void, signal: AbortSignal): Promise<void> {
    return (await this.#up()).streamStats(containerId, onSample, signal);
  }

  async inspect(containerId: string): Promise<ContainerState | undefined> {
    const state = await (await this.#up()).inspect(containerId);
    // A running container's listeners (a restarted daemon's first look); a stopped one gets them at start.
    if (state?.running) await this.#relisten(containerId).catch(() => {});
    return state;
  }

  async logsTail(containerId: string, lines: number): Promise<string> {
    return (await this.#up()).logsTail(containerId, lines);
  }

  async removeContainer(containerId: string): Promise<void> {
    await (await this.#up()).removeContainer(containerId);
    for (const port of this.#localPorts.get(containerId) ?? []) this.#release(port, containerId);
    this.#localPorts.delete(containerId);
    this.tunnel.forget(containerId);
  }

  async createVolume(name: string, labels: Record<string, string>): Promise<void> {
    return (await this.#up()).createVolume(name, labels);
  }

  async volumeExists(name: string): Promise<boolean> {
    return (await this.#up()).volumeExists(name);
  }

  async removeVolume(name: string): Promise<void> {
    return (await this.#up()).removeVolume(name);
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    return (await this.#up()).listContainers(labels);
  }

  async listVolumes(labels: Record<string, string>): Promise<VolumeSummary[]> {
    return (await this.#up()).listVolumes(labels);
  }

  // Checkpoints: the commit, its image and the reads of it stay on that machine (the home tar comes
  // here through the archive API, over the same connection).
  async containerChanges(containerId: string): Promise<FsChange[]> {
    return (await this.#up()).containerChanges(containerId);
  }

  async commitContainer(containerId: string, ref: { repo: string; tag: string; comment: string }, labels: Record<string, string>, blankLabels: readonly string[]): Promise<string> {
    // The local-ports label is the container's own (which daemon port serves which of its ports): no image keeps it.
    return (await this.#up()).commitContainer(containerId, ref, labels, [...blankLabels, LOCAL_PORTS_LABEL]);
  }

  async imageInfo(image: string): Promise<ImageInfo | undefined> {
    return (await this.#up()).imageInfo(image);
  }

  async removeImage(image: string): Promise<void> {
    return (await this.#up()).removeImage(image);
  }

  async listImages(labels: Record<string, string>): Promise<Array<{ id: string; labels: Record<string, string> }>> {
    return (await this.#up()).listImages(labels);
  }

  async renameContainer(containerId: string, name: string): Promise<void> {
    return (await this.#up()).renameContainer(containerId, name);
  }

  async openImageReader(image: string, labels: Record<string, string>): Promise<ImageReader> {
    return (await this.#up()).openImageReader(image, labels);
  }

  async readImagePaths(image: string, paths: readonly string[], labels: Record<string, string>, timeoutMs?: number): Promise<TarStream | undefined> {
    return (await this.#up()).readImagePaths(image, paths, labels, timeoutMs);
  }

  async runInImage(image: string, entrypoint: string[], cmd: string[], labels: Record<string, string>, timeoutMs?: number): Promise<TarStream | undefined> {
    return (await this.#up()).runInImage(image, entrypoint, cmd, labels, timeoutMs);
  }

  async watchContainerEvents(labels: Record<string, string>, onEvent: (e: { action: string; workspaceId?: string }) => void, signal: AbortSignal, onReconnect?: () => void): Promise<void> {
    // Reconnects by itself (the inner engine retries), also while the connection is down.
    await this.tunnel.standby();
    return this.inner.watchContainerEvents(labels, onEvent, signal, onReconnect);
  }

  close(): void {
    this.tunnel.close();
  }
}
