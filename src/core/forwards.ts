// Port forwards added at run time (spec "Port Forwarding"): the daemon listens on a host port and
// pipes each connection through the workspace's pooled SSH connection to 127.0.0.1:<port> inside,
// so no container is re-created. Persisted per workspace, restored at daemon start.
import { randomBytes } from "node:crypto";
import type { NexusPaths } from "../store/paths.ts";
import { checkHostPort } from "./caller.ts";
import { errors, NexusError } from "./errors.ts";
import type { EventBus } from "./events.ts";
import type { PortForwardInput } from "./inputs.ts";
import { listeningOn, parseProcNetTcp, PROC_NET_TCP, type PortListening, type TcpListener } from "./listeners.ts";
import { loadForwards, saveForwards, type SavedForward } from "../store/forwards.ts";
import { listeningView, type ForwardResult, type HeldForward, type PortEntry, type PortForward, type Visibility } from "./port-entries.ts";
import type { Logger } from "./log.ts";
import { KeyedMutex } from "./mutex.ts";
import type { PortAllocator } from "./ports.ts";
import type { WorkspaceRecord } from "./types.ts";
import type { WorkspaceService } from "./workspaces.ts";
import { ForwardPipe, type LiveForward as Live } from "./forward-pipe.ts";

export type { ForwardResult, HeldForward, PortEntry, PortForward, Visibility } from "./port-entries.ts";

export interface PortForwardsDeps {
  workspaces: WorkspaceService;
  ports: PortAllocator;
  events: EventBus;
  paths: NexusPaths;
  log: Logger;
  /** daemon.allow_privileged_ports: host ports below 1024 for forwards (caller.ts). */
  allowPrivilegedPorts?: boolean;
}

const BIND: Record<Visibility, string> = { private: "127.0.0.1", public: "0.0.0.0" };

export class PortForwards {
  readonly #d: PortForwardsDeps;
  readonly #live = new Map<string, Live>();
  /** One change at a time per workspace: "look for an existing forward, else make one" is atomic. */
  readonly #locks = new KeyedMutex();
  readonly #pipe: ForwardPipe;
  readonly #unsubscribe: () => void;
  readonly #removeAwakeSource: () => void;

  constructor(deps: PortForwardsDeps) {
    this.#d = deps;
    this.#pipe = new ForwardPipe({ workspaces: deps.workspaces, log: deps.log, find: (forwardId) => this.#live.get(forwardId) });
    this.#unsubscribe = deps.events.subscribe((e) => {
      if (e.type === "workspace.status" && e.payload.status === "destroyed") void this.#forget(e.payload.workspaceId);
    });
    this.#removeAwakeSource = deps.workspaces.addAwakeSource((id) => {
      const n = this.#of(id).reduce((sum, l) => sum + l.sockets.size, 0);
      return n > 0 ? `${n} forwarded connection${n === 1 ? "" : "s"}` : undefined;
    });
  }

  // ---- queries ---------------------------------------------------------------------------------

  /** Host ports every forward holds: the allocator hands none of them out. */
  hostPorts(): number[] {
    return [...this.#live.values()].map((l) => l.forward.hostPort);
  }

  forwardsOf(workspaceId: string): PortForward[] {
    return this.#of(workspaceId).map((l) => ({ ...l.forward }));
  }

  /** Published ports, then forwards, each with what listens on its container port (when running). */
  async list(ref: string): Promise<PortEntry[]> {
    const r = this.#d.workspaces.resolve(ref);
    const inside = r.status === "running" ? await this.#listeners(r) : undefined;
    const published = r.ports.services.map((p): PortEntry => ({
      kind: "published",
      id: `published-${p.containerPort}`,
      name: p.name,
      containerPort: p.containerPort,
      hostPort: p.hostPort,
      visibility: "private",
      bindAddress: "127.0.0.1",
      url: `http://localhost:${p.hostPort}`,
      ...listeningView(r, inside, p.containerPort, "published", p.hostPort),
    }));
    const forwards = this.#of(r.id).map((l): PortEntry => ({
      kind: "forward",
      ...l.forward,
      connections: l.sockets.size,
      ...listeningView(r, inside, l.forward.containerPort, "forward", l.forward.hostPort),
    }));
    return [...published, ...forwards];
  }

  /** Whether something listens on `containerPort` inside a running workspace, and whether only on loopback. */
  async probe(ref: string, containerPort: number): Promise<PortListening> {
    const r = this.#d.workspaces.resolve(ref);
    const inside = await this.#listeners(r);
    if (!inside) throw new NexusError("CONNECTION_LOST", `Could not read the listening sockets of workspace '${r.name}'`, { suggestion: `Check 'nexus status ${r.name}'` });
    return listeningOn(inside, containerPort);
  }

  // ---- changes ---------------------------------------------------------------------------------

  /**
   * Forwards a host port to `containerPort` inside the workspace. The same container port asked again
   * returns the existing forward, unless another fixed host port is asked.
   */
  async add(ref: string, input: PortForwardInput): Promise<ForwardResult> {
    const id = this.#d.workspaces.resolve(ref).id;
    return this.#locks.run(id, () => this.#add(id, input));
  }

  /** A forward of `containerPort`, made if there is none (for service ports not published at create). */
  ensure(ref: string, containerPort: number): Promise<ForwardResult> {
    return this.add(ref, { containerPort });
  }

  /** Rebinds a forward on all interfaces: other machines can reach it from then on. */
  async makePublic(ref: string, portRef: string): Promise<ForwardResult> {
    const r = this.#d.workspaces.resolve(ref);
    return this.#locks.run(r.id, async () => {
      const live = this.#find(r, portRef);
      if (live.forward.visibility === "public") return this.#result(r, live, false, { lead: "Already public:" });
      await this.#rebind(live, "public");
      this.#persist(r.id);
      this.#publish("public", live.forward);
      return this.#result(r, live, false, { lead: "Now public:" });
    });
  }

  /** Closes a forward and its open connections; its host port is free again. */
  async remove(ref: string, portRef: string): Promise<void> {
    const r = this.#d.workspaces.resolve(ref);
    await this.#locks.run(r.id, async () => {
      const live = this.#find(r, portRef);
      this.#close(live);
      this.#persist(r.id);
      this.#publish("removed", live.forward);
    });
  }

  /**
   * A temporary forward (`nexus proxy`): listening once this resolves, removed when the signal given
   * to `until` aborts (the streamed request ended) unless something else holds or kept it.
   */
  async hold(ref: string, input: Omit<PortForwardInput, "temporary">): Promise<HeldForward> {
    const forward = await this.add(ref, { ...input, temporary: true });
    const live = this.#live.get(forward.id)!;
    const until = async (signal: AbortSignal): Promise<{ reason: string }> => {
      try {
        const reason = await new Promise<string>((resolve) => {
          if (signal.aborted) return resolve("the client went away");
          signal.addEventListener("abort", () => resolve("the client went away"), { once: true });
          void live.gone.then(resolve);
        });
        return { reason };
      } finally {
        live.holders--;
        if (live.forward.temporary && live.holders <= 0 && this.#live.get(live.forward.id) === live) {
          await this.remove(live.forward.workspaceId, live.forward.id).catch((err: Error) => this.#d.log.warn(`temporary forward ${live.forward.id}: ${err.message}`));
        }
      }
    };
    return { forward, until };
  }

  /** Brings back the persisted forwards of every workspace: run once at daemon start, after reconcile. */
  async restore(): Promise<void> {
    const pending: Live[] = [];
    for (const w of this.#d.workspaces.list()) {
      for (const saved of this.#read(w.id)) {
        if (this.#live.has(saved.id)) continue;
        const live = this.#newLive({ ...saved, workspaceId: w.id }, saved.allocated === true);
        delete (live.forward as SavedForward).allocated;
        // Registered before any listens, so a moved forward is never handed a port another one holds.
        this.#live.set(live.forward.id, live);
        pending.push(live);
      }
    }
    for (const live of pending) {
      const f = live.forward;
      const was = f.hostPort;
      try {
        try {
          live.server = await this.#pipe.listen(f.id, f.bindAddress, f.hostPort);
          continue;
        } catch (err) {
          if (!(err instanceof NexusError && err.code === "PORT_CONFLICT")) throw err;
        }
        // Another program took the port while the daemon was away: the forward moves rather than going.
        await this.#listenAllocated(live);
        this.#d.log.warn(`forward ${f.id}: host port ${was} is taken by another program now; moved to ${f.hostPort}`);
        this.#persist(f.workspaceId);
        this.#publish("added", f, `Host port ${was} was taken; the forward moved to ${f.hostPort}`);
      } catch (err) {
        this.#d.log.warn(`forward ${f.id} (${was} → ${f.containerPort}) not restored: ${(err as Error).message}`);
        this.#close(live);
        this.#persist(f.workspaceId);
      }
    }
    if (pending.length) this.#d.log.info(`restored ${pending.length} port forward(s)`);
  }

  /** Daemon shutdown: every listener and connection closes; persisted forwards come back at the next start. */
  shutdown(): void {
    this.#unsubscribe();
    this.#removeAwakeSource();
    for (const live of [...this.#live.values()]) this.#close(live, { release: false, why: "the daemon is stopping" });
  }

  // ---- internals -------------------------------------------------------------------------------

  #of(workspaceId: string): Live[] {
    return [...this.#live.values()].filter((l) => l.forward.workspaceId === workspaceId);
  }

  async #add(workspaceId: string, input: PortForwardInput): Promise<ForwardResult> {
    if (input.hostPort !== undefined) checkHostPort(input.hostPort, this.#d.allowPrivilegedPorts === true);
    const r = this.#d.workspaces.resolve(workspaceId);
    if (r.status === "pending" || r.status === "destroying") {
      throw errors.invalidState(r.name, r.status, "created (and not being destroyed) to forward a port", `See 'nexus status ${r.name}'`);
    }
    const existing = this.#of(r.id).find((l) => l.forward.containerPort === input.containerPort && (input.hostPort === undefined || l.forward.hostPort === input.hostPort));
    if (existing) return this.#reuse(r, existing, input);

    const visibility = input.visibility ?? "private";
    const live = this.#newLive(
      {
        id: `pf-${randomBytes(5).toString("hex")}`,
        workspaceId: r.id,
        containerPort: input.containerPort,
        hostPort: 0,
        visibility,
        bindAddress: BIND[visibility],
        url: "",
        createdAt: new Date().toISOString(),
        ...(input.temporary ? { temporary: true } : {}),
      },
      input.hostPort === undefined,
    );
    if (input.temporary) live.holders = 1;
    let retriedFrom: number | undefined;
    if (input.hostPort !== undefined) {
      const port = input.hostPort;
      if (this.hostPorts().includes(port)) throw await this.#conflict(port, input.containerPort, "another forward of Nexus uses it");
      const holder = this.#d.workspaces.list().find((w) => w.ports.some((p) => p.hostPort === port));
      // A stopped workspace's published port is free now, but its next start needs it.
      if (holder) throw await this.#conflict(port, input.containerPort, `workspace '${holder.name}' publishes it`);
      live.forward.hostPort = port;
      live.forward.url = `http://localhost:${port}`;
      try {
        live.server = await this.#pipe.listen(live.forward.id, live.forward.bindAddress, port);
      } catch (err) {
        if (err instanceof NexusError && err.code === "PORT_CONFLICT") throw await this.#conflict(port, input.containerPort);
        throw err;
      }
    } else {
      retriedFrom = await this.#listenAllocated(live);
    }
    this.#live.set(live.forward.id, live);
    try {
      this.#persist(r.id);
    } catch (err) {
      this.#close(live);
      throw err;
    }
    this.#publish("added", live.forward);
    this.#d.log.info(`forward ${live.forward.id}: ${live.forward.bindAddress}:${live.forward.hostPort} → ${r.name}:${live.forward.containerPort}`);
    return this.#result(r, live, true, retriedFrom !== undefined ? { retriedFrom } : {});
  }

  /** The same container port asked again: the existing forward, made persistent or public when asked. */
  async #reuse(r: WorkspaceRecord, live: Live, input: PortForwardInput): Promise<ForwardResult> {
    let changed = false;
    let madePublic = false;
    if (input.temporary) live.holders++;
    else if (live.forward.temporary) {
      // Asked for for good while a `nexus proxy` holds it: it stays after the proxy ends.
      delete live.forward.temporary;
      changed = true;
    }
    if (input.visibility && input.visibility !== live.forward.visibility) {
      await this.#rebind(live, input.visibility);
      changed = true;
      madePublic = input.visibility === "public";
    }
    if (changed) {
      this.#persist(r.id);
      this.#publish(madePublic ? "public" : "added", live.forward);
    }
    return this.#result(r, live, false);
  }

  #newLive(forward: PortForward, allocated: boolean): Live {
    let markGone!: (why: string) => void;
    const gone = new Promise<string>((resolve) => (markGone = resolve));
    return { forward, server: undefined, sockets: new Set(), allocated, holders: 0, gone, markGone };
  }

  /** Listens on a port from the allocator; one taken meanwhile is replaced (up to 3 times). Returns the first port tried when it moved. */
  async #listenAllocated(live: Live): Promise<number | undefined> {
    const f = live.forward;
    let first: number | undefined;
    for (let attempt = 1; ; attempt++) {
      const [port] = await this.#d.ports.allocate(1);
      first ??= port;
      try {
        live.server = await this.#pipe.listen(f.id, f.bindAddress, port!);
        if (live.allocated && f.hostPort > 0) this.#d.ports.release([f.hostPort]);
        f.hostPort = port!;
        f.url = `http://localhost:${port}`;
        live.allocated = true;
        return port === first ? undefined : first;
      } catch (err) {
        this.#d.ports.release([port!]);
        if (!(err instanceof NexusError && err.code === "PORT_CONFLICT") || attempt >= 3) throw err;
      }
    }
  }

  /** A fixed host port that is taken: PORT_CONFLICT naming a free one. */
  async #conflict(hostPort: number, containerPort: number, why = "another program uses it"): Promise<NexusError> {
    const free = await this.#d.ports.allocate(1).then(
      ([p]) => (this.#d.ports.release([p!]), p),
      () => undefined, // the range is full: no port to suggest, the conflict is still the answer
    );
    return new NexusError("PORT_CONFLICT", `Host port ${hostPort} is taken (${why})`, {
      suggestion: free
        ? `Use a free port such as ${free} (hostPort ${free}, or '--host-port ${free}'), or leave the host port out to get one`
        : "Pick another host port, or free this one",
      details: { hostPort, containerPort, ...(free ? { suggestedPort: free } : {}) },
    });
  }

  /** Moves a forward to the other bind address on the same host port; back to the old one when that fails. */
  async #rebind(live: Live, visibility: Visibility): Promise<void> {
    const f = live.forward;
    const from = f.bindAddress;
    const to = BIND[visibility];
    live.server?.close(); // open connections go on; only new ones wait for the new listener
    try {
      live.server = await this.#pipe.listenRetrying(f.id, to, f.hostPort);
    } catch (err) {
      live.server = await this.#pipe.listenRetrying(f.id, from, f.hostPort).catch((e: Error) => {
        this.#d.log.warn(`forward ${f.id}: could not listen on ${from}:${f.hostPort} again: ${e.message}`);
        return undefined;
      });
      if (err instanceof NexusError && err.code === "PORT_CONFLICT") throw await this.#conflict(f.hostPort, f.containerPort, `another program holds it on some interface, so it cannot be bound on ${to}`);
      throw err;
    }
    f.visibility = visibility;
    f.bindAddress = to;
  }

  /** A forward by id, or by container port ("3000"). */
  #find(r: WorkspaceRecord, portRef: string): Live {
    const mine = this.#of(r.id);
    const byId = mine.find((l) => l.forward.id === portRef);
    if (byId) return byId;
    if (/^\d+$/.test(portRef)) {
      const port = Number(portRef);
      const matches = mine.filter((l) => l.forward.containerPort === port);
      const found = matches.find((l) => !l.forward.temporary) ?? matches[0];
      if (found) return found;
      const published = r.ports.services.find((p) => p.containerPort === port);
      if (published) {
        throw new NexusError("NOT_FOUND", `Port ${port} of workspace '${r.name}' is published by its container (127.0.0.1:${published.hostPort}), not forwarded`, {
          suggestion: `Published ports are fixed at create; add a forward to change how it is reached ('nexus ports add ${r.name} ${port} --public')`,
          details: { workspaceName: r.name, containerPort: port, hostPort: published.hostPort },
        });
      }
    }
    throw new NexusError("NOT_FOUND", `Workspace '${r.name}' has no port forward '${portRef}'`, {
      suggestion: `See its forwards with 'nexus ports ${r.name}'`,
      details: { workspaceName: r.name, port: portRef },
    });
  }

  /** Stops listening, drops its connections and forgets it; its allocated port goes back. */
  #close(live: Live, opts: { release?: boolean; why?: string } = {}): void {
    live.server?.close();
    live.server = undefined;
    for (const s of live.sockets) s.destroy();
    if (this.#live.get(live.forward.id) === live) this.#live.delete(live.forward.id);
    if (live.allocated && opts.release !== false) this.#d.ports.release([live.forward.hostPort]);
    live.markGone(opts.why ?? "the forward was removed");
  }

  /** A destroyed workspace's forwards go with it. */
  async #forget(workspaceId: string): Promise<void> {
    await this.#locks.run(workspaceId, async () => {
      for (const live of this.#of(workspaceId)) {
        this.#close(live, { why: "the workspace was destroyed" });
        this.#publish("removed", live.forward);
      }
      this.#pipe.forget(workspaceId);
    });
  }

  #result(r: WorkspaceRecord, live: Live, created: boolean, opts: { retriedFrom?: number; lead?: string } = {}): ForwardResult {
    const f = live.forward;
    const { retriedFrom } = opts;
    const where =
      f.visibility === "public"
        ? `PUBLIC: listening on all interfaces (0.0.0.0:${f.hostPort}), so other machines that reach this host can connect`
        : `private: 127.0.0.1 only`;
    let message = `${opts.lead ?? (created ? "Forwarding" : "Already forwarded:")} ${f.url} -> ${r.name}:${f.containerPort} (${where})`;
    if (retriedFrom !== undefined) message += `; host port ${retriedFrom} was taken meanwhile, so ${f.hostPort} is used instead`;
    return { ...f, created, message, ...(retriedFrom !== undefined ? { retriedFrom } : {}) };
  }

  #publish(action: "added" | "removed" | "public", forward: PortForward, message?: string): void {
    this.#d.events.publish({ type: "port.forward", payload: { workspaceId: forward.workspaceId, action, forward: { ...forward }, ...(message ? { message } : {}) } });
  }

  #persist(workspaceId: string): void {
    const forwards: SavedForward[] = this.#of(workspaceId)
      .filter((l) => !l.forward.temporary)
      .map((l) => ({ ...l.forward, ...(l.allocated ? { allocated: true } : {}) }));
    saveForwards(this.#d.paths, workspaceId, forwards);
  }

  #read(workspaceId: string): SavedForward[] {
    return loadForwards(this.#d.paths, workspaceId, (file, why) => this.#d.log.warn(`${file} does not parse (${why}); its forwards are not restored`));
  }

  async #listeners(r: WorkspaceRecord): Promise<TcpListener[] | undefined> {
    try {
      // Looking does not count as using the workspace: a tool polling `nexus ports` must not keep it awake.
      const out = await this.#d.workspaces.inspect(r.id, PROC_NET_TCP);
      return parseProcNetTcp(out.stdout);
    } catch (err) {
      this.#d.log.warn(`listening sockets of ${r.name}: ${(err as Error).message}`);
      return undefined;
    }
  }
}
