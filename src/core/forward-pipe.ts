// The connections of a port forward (core/forwards.ts): listening on the host port, and piping each
// accepted connection through the workspace's pooled SSH connection to 127.0.0.1:<port> inside. A
// paused workspace wakes for a connection; forwarded bytes count as activity (throttled).
import { createServer, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { hasCode, NexusError } from "../kernel/errors.ts";
import { retry } from "../kernel/poll.ts";
import type { PortForward } from "../kernel/types.ts";
import type { Logger } from "./log.ts";
import type { WorkspaceService } from "./workspaces.ts";

/** A forward the daemon holds open now. */
export interface LiveForward {
  forward: PortForward;
  server: Server | undefined;
  sockets: Set<Socket>;
  /** The host port came from the allocator (so it goes back there), rather than being asked for. */
  allocated: boolean;
  /** Streams (`nexus proxy`) holding the forward now. */
  holders: number;
  /** Resolves with why, once the forward is closed. */
  gone: Promise<string>;
  markGone: (why: string) => void;
}

export interface ForwardPipeDeps {
  workspaces: WorkspaceService;
  log: Logger;
  /** The live forward a listener belongs to; none once it was removed. */
  find: (forwardId: string) => LiveForward | undefined;
}

const ACTIVITY_EVERY_MS = 5_000;

export class ForwardPipe {
  readonly #d: ForwardPipeDeps;
  readonly #lastActivity = new Map<string, number>();

  constructor(deps: ForwardPipeDeps) {
    this.#d = deps;
  }

  /** Listens on host:port for the forward; PORT_CONFLICT when it is taken, PERMISSION_DENIED when privileged. */
  listen(forwardId: string, host: string, port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      // allowHalfOpen: a client that ends its side still gets the server's answer.
      const server = createServer({ allowHalfOpen: true }, (socket) => this.#accept(forwardId, socket));
      server.once("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "EADDRINUSE") reject(new NexusError("PORT_CONFLICT", `Host port ${port} is already in use on ${host}`, { details: { hostPort: port } }));
        else if (err.code === "EACCES") {
          reject(new NexusError("PERMISSION_DENIED", `Listening on port ${port} needs privileges this daemon does not have`, {
            suggestion: "Pick a host port of 1024 or above, or leave it out to get a free one",
            details: { hostPort: port },
          }));
        } else reject(err);
      });
      server.listen({ host, port, exclusive: true }, () => {
        server.removeAllListeners("error");
        server.on("error", (err) => this.#d.log.warn(`forward ${forwardId} listener: ${err.message}`));
        resolve(server);
      });
    });
  }

  /** The port of a listener just closed can take a moment to be free. */
  async listenRetrying(forwardId: string, host: string, port: number): Promise<Server> {
    return retry(() => this.listen(forwardId, host, port), { attempts: 5, delayMs: (n) => 40 * n, retryOn: hasCode("PORT_CONFLICT") });
  }

  /** A destroyed workspace's throttle goes with it. */
  forget(workspaceId: string): void {
    this.#lastActivity.delete(workspaceId);
  }

  #accept(forwardId: string, socket: Socket): void {
    const live = this.#d.find(forwardId);
    socket.on("error", () => {}); // a client's reset is ordinary; the close below cleans up
    if (!live) {
      socket.destroy();
      return;
    }
    // Deno's accepted node:net sockets are not TCP_NODELAY (Bun's are): a reply the workspace sent in
    // two writes had its second wait for the client's delayed ACK (~40 ms).
    socket.setNoDelay(true);
    const id = live.forward.workspaceId;
    live.sockets.add(socket);
    socket.once("close", () => {
      live.sockets.delete(socket);
      this.#activity(id, true); // idle time counts from the last connection's end
    });
    void this.#connect(live, socket);
  }

  async #connect(live: LiveForward, socket: Socket): Promise<void> {
    const f = live.forward;
    const ws = this.#d.workspaces;
    let tunnel: Duplex;
    try {
      const r = ws.resolve(f.workspaceId);
      // A paused workspace wakes up for a connection; a stopped one is not started behind the user's back.
      if (r.status === "paused") await ws.resume(r.id);
      else if (r.status !== "running") {
        this.#d.log.info(`forward ${f.id}: ${r.name} is ${r.status}; connection to ${f.hostPort} closed`);
        socket.destroy();
        return;
      }
      tunnel = await ws.openTunnel(r.id, f.containerPort);
    } catch (err) {
      this.#d.log.warn(`forward ${f.id} (${f.hostPort} → ${f.containerPort}): ${(err as Error).message}`);
      socket.destroy();
      return;
    }
    if (socket.destroyed) {
      tunnel.destroy();
      return;
    }
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      socket.destroy();
      tunnel.destroy();
    };
    tunnel.on("error", end);
    tunnel.once("close", end);
    socket.once("close", end);
    const active = () => this.#activity(f.workspaceId);
    socket.on("data", active);
    tunnel.on("data", active);
    socket.pipe(tunnel);
    tunnel.pipe(socket);
  }

  /** Forwarded bytes keep the workspace from idling; throttled, since they can come by the megabyte. */
  #activity(workspaceId: string, now = false): void {
    const at = Date.now();
    if (!now && at - (this.#lastActivity.get(workspaceId) ?? 0) < ACTIVITY_EVERY_MS) return;
    this.#lastActivity.set(workspaceId, at);
    try {
      this.#d.workspaces.touch(workspaceId);
    } catch {
      // Destroyed meanwhile: nothing left to keep awake.
    }
  }
}
