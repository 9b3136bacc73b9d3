// Loopback listeners of the daemon's that carry each connection to a remote engine's container:
// 127.0.0.1:<local port> here, and per connection a stream the engine's transport opens (an SSH
// forward, or an exec relay through the Docker API). Nothing is ever bound on another address.
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";

/** Pipes `local` both ways into the stream `open` makes; `local` is dropped when that fails. */
export function pipeSocket(local: Socket, open: () => Promise<Duplex>, open_: Set<Socket>): void {
  open_.add(local);
  local.on("close", () => open_.delete(local));
  local.on("error", () => {});
  local.pause();
  open().then(
    (remote) => {
      remote.on("error", () => local.destroy());
      local.on("error", () => remote.destroy());
      remote.on("close", () => local.destroy());
      local.on("close", () => remote.destroy());
      local.pipe(remote);
      remote.pipe(local);
      local.resume();
    },
    () => local.destroy(),
  );
}

export class LoopbackListeners {
  readonly #servers = new Map<number, Server>();
  readonly #open = new Set<Socket>();

  /** Holds 127.0.0.1:`localPort`; each connection goes to the stream `open` makes for it. */
  async listen(localPort: number, open: () => Promise<Duplex>): Promise<void> {
    if (this.#servers.has(localPort)) return;
    const server = createServer((local) => {
      // Deno's accepted node:net sockets are not TCP_NODELAY (Bun's are): a reply the remote sends in
      // two writes had its second wait for the client's delayed ACK (~40 ms).
      local.setNoDelay(true);
      pipeSocket(local, open, this.#open);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port: localPort }, () => resolve());
    });
    server.on("error", () => {});
    this.#servers.set(localPort, server);
  }

  unlisten(localPort: number): void {
    this.#servers.get(localPort)?.close();
    this.#servers.delete(localPort);
  }

  listening(localPort: number): boolean {
    return this.#servers.has(localPort);
  }

  /** Closes every listener and the connections they carry. */
  close(): void {
    for (const s of this.#servers.values()) s.close();
    this.#servers.clear();
    for (const s of this.#open) s.destroy();
    this.#open.clear();
  }
}
