// Idle detection: what keeps a workspace awake, and pausing (or stopping) the ones nobody uses.
import type { SshTarget } from "../../ssh/pool.ts";
import type { IdleView, WorkspaceRecord, WorkspaceView } from "../../kernel/types.ts";
import type { WorkspaceChannel } from "./channel.ts";
import type { WorkspaceContext } from "./context.ts";
import { countConnections, PROC_NET_TCP } from "../listeners.ts";

/** The operations idleness takes, each only if the workspace is still idle under its lock. */
export interface IdleActions {
  stop(ref: string, opts: { onlyIf: () => Promise<boolean> }): Promise<WorkspaceView>;
  pause(ref: string, opts: { onlyIf: () => Promise<boolean> }): Promise<WorkspaceView>;
}

export class IdleWatch {
  readonly #c: WorkspaceContext;
  readonly #channel: WorkspaceChannel;

  constructor(c: WorkspaceContext, channel: WorkspaceChannel) {
    this.#c = c;
    this.#channel = channel;
  }

  timeoutOf(r: WorkspaceRecord): number {
    return r.idleTimeoutSeconds ?? this.#c.d.config.defaults.idle_timeout;
  }

  /**
   * Connections that mean someone uses the workspace: SSH connections other than the daemon's own
   * pooled one, and connections to its published ports from outside the container (a browser on
   * the dev server's URL; health probes and forwards come from inside, over loopback).
   */
  async outsideConnections(r: WorkspaceRecord): Promise<{ ssh: number; published: number }> {
    const none = { ssh: 0, published: 0 };
    let target: SshTarget;
    try {
      target = this.#channel.target(r);
    } catch {
      return none;
    }
    const chunks: Buffer[] = [];
    const res = await this.#c.d.ssh.exec(r.id, target, PROC_NET_TCP, { onStdout: (b) => chunks.push(b) }).catch(() => undefined);
    if (!res) return none;
    // The daemon's own connections (the plain one that just ran this, one per agent `exec` forwarded) are not outside ones.
    return countConnections(Buffer.concat(chunks).toString("utf8"), r.ports.services.map((p) => p.containerPort), Math.max(1, this.#c.d.ssh.openConnections(r.id)));
  }

  async view(r: WorkspaceRecord): Promise<IdleView> {
    const a = this.#c.activity;
    const rec = a.withActivity(r);
    const keptAwakeBy: string[] = [];
    const running = a.running(r.id);
    if (running > 0) keptAwakeBy.push(`${running} command${running === 1 ? "" : "s"} running`);
    if (r.status === "running") {
      const { ssh, published } = await this.outsideConnections(r);
      if (ssh > 0) keptAwakeBy.push(`${ssh} SSH connection${ssh === 1 ? "" : "s"}`);
      if (published > 0) keptAwakeBy.push(`${published} connection${published === 1 ? "" : "s"} to published ports`);
    }
    keptAwakeBy.push(...a.awakeReasons(r.id));
    return {
      timeoutSeconds: this.timeoutOf(r),
      action: this.#c.d.config.defaults.idle_action,
      lastActiveAt: rec.lastActiveAt,
      idleForSeconds: Math.max(0, Math.round((Date.now() - Date.parse(rec.lastActiveAt)) / 1000)),
      keptAwakeBy,
    };
  }

  /**
   * Pauses (or stops, per defaults.idle_action) running workspaces with no exec, no outside SSH
   * connection and no activity for their idle timeout. The daemon calls it on a timer.
   */
  async check(act: IdleActions, now = Date.now()): Promise<string[]> {
    const c = this.#c;
    const a = c.activity;
    const acted: string[] = [];
    for (const r of c.d.store.list()) {
      if (r.status !== "running") continue;
      const timeout = this.timeoutOf(r);
      if (timeout <= 0 || a.running(r.id) > 0 || a.awakeReasons(r.id).length > 0) continue;
      if (now - Date.parse(a.withActivity(r).lastActiveAt) < timeout * 1000) continue;
      try {
        const outside = await this.outsideConnections(r);
        if (outside.ssh > 0 || outside.published > 0) {
          a.touch(r.id);
          continue;
        }
        // Decided before the workspace's lock was taken: another operation may have held it meanwhile
        // (services coming back at daemon start, ...) while an exec or a connection began. Looked at again under it.
        const onlyIf = () => this.#stillIdle(r.id, now);
        const stopping = c.d.config.defaults.idle_action === "stop";
        const after = stopping ? await act.stop(r.id, { onlyIf }) : await act.pause(r.id, { onlyIf });
        if (after.status !== (stopping ? "stopped" : "paused")) continue;
        c.d.log.info(`idle for ${timeout} s: ${c.d.config.defaults.idle_action === "stop" ? "stopped" : "paused"} ${r.name}`);
        acted.push(r.name);
      } catch (err) {
        c.d.log.warn(`idle check of ${r.name}: ${(err as Error).message}`);
      }
    }
    return acted;
  }

  /** Idle still, under the workspace's lock: running, no exec, nothing keeping it awake, no activity, no outside connection. */
  async #stillIdle(id: string, now: number): Promise<boolean> {
    const a = this.#c.activity;
    const r = this.#c.d.store.get(id);
    if (!r || r.status !== "running") return false;
    if (a.running(id) > 0 || a.awakeReasons(id).length > 0) return false;
    if (now - Date.parse(a.withActivity(r).lastActiveAt) < this.timeoutOf(r) * 1000) return false;
    const outside = await this.outsideConnections(r);
    return outside.ssh === 0 && outside.published === 0;
  }
}
