// The ssh:// engine's tunnel: the Docker API through the pooled connection's forwarded socket, and a
// container's ports published on the remote's 127.0.0.1 at ports the remote engine picks, reached
// with forwardOut on the same connection. The remote port is looked up per container (and again
// when a connection is refused: a restarted container has new ones).
import type { NexusError } from "../../kernel/errors.ts";
import type { DockerEngine } from "../engine.ts";
import { LoopbackListeners } from "./listeners.ts";
import type { SshLink } from "./ssh-link.ts";
import type { EngineTunnel } from "./tunnel.ts";

export class SshTunnel implements EngineTunnel {
  readonly publishes = true;
  readonly link: SshLink;
  readonly #inner: () => DockerEngine;
  readonly #listeners = new LoopbackListeners();
  /** Remote host ports by container id and container port (refreshed when a connection is refused). */
  readonly #remotePorts = new Map<string, Map<number, number>>();

  constructor(link: SshLink, inner: () => DockerEngine) {
    this.link = link;
    this.#inner = inner;
  }

  get address(): string {
    return this.link.address;
  }

  async up(): Promise<void> {
    await this.link.connect();
    await this.link.relay();
  }

  async standby(): Promise<void> {
    await this.link.relay();
  }

  unavailable(why: string, suggestion: string): NexusError {
    return this.link.unavailable(why, suggestion);
  }

  listen(localPort: number, id: string, containerPort: number): Promise<void> {
    return this.#listeners.listen(localPort, async () => {
      const port = await this.#remotePort(id, containerPort, false);
      if (port === undefined) throw new Error("not published");
      try {
        return await this.link.openTcp(port);
      } catch {
        const again = await this.#remotePort(id, containerPort, true);
        if (again === undefined) throw new Error("not published");
        return this.link.openTcp(again);
      }
    });
  }

  unlisten(localPort: number): void {
    this.#listeners.unlisten(localPort);
  }

  listening(localPort: number): boolean {
    return this.#listeners.listening(localPort);
  }

  forget(id: string): void {
    this.#remotePorts.delete(id);
  }

  /** The remote 127.0.0.1 port publishing `containerPort` of container `id` (from the engine when not known or `fresh`). */
  async #remotePort(id: string, containerPort: number, fresh: boolean): Promise<number | undefined> {
    let ports = this.#remotePorts.get(id);
    if (!ports || fresh) {
      ports = new Map();
      const inner = this.#inner();
      const info = (await inner.call("inspect container", () => inner.docker.getContainer(id).inspect())) as { NetworkSettings?: { Ports?: Record<string, Array<{ HostIp: string; HostPort: string }> | null> } };
      for (const [key, bindings] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
        const b = bindings?.find((x) => x.HostIp === "127.0.0.1") ?? bindings?.[0];
        if (b) ports.set(Number(key.split("/")[0]), Number(b.HostPort));
      }
      this.#remotePorts.set(id, ports);
    }
    return ports.get(containerPort);
  }

  close(): void {
    this.#listeners.close();
    this.link.close();
  }
}
