// Resource stats and waiting for a status: read-only views on workspaces for the transports.
import type { ContainerEngine, ContainerStats } from "../docker/container-engine.ts";
import { errors, NexusError } from "./errors.ts";
import type { EventBus } from "./events.ts";
import type { WorkspaceStatus } from "./types.ts";
import type { WorkspaceService } from "./workspaces.ts";
import { pollUntil } from "../kernel/poll.ts";

export type WaitCondition = "running" | "healthy" | "stopped";

export interface WorkspaceStats extends ContainerStats {
  workspaceId: string;
  timestamp: string;
}

export class WorkspaceMonitor {
  readonly #ws: WorkspaceService;
  readonly #events: EventBus;

  constructor(deps: { workspaces: WorkspaceService; docker: ContainerEngine; events: EventBus }) {
    this.#ws = deps.workspaces;
    this.#events = deps.events;
  }

  /** One sample from the container's stats; the workspace must be running or paused. */
  async stats(ref: string): Promise<WorkspaceStats> {
    const r = this.#ws.resolve(ref);
    if (!r.containerId || (r.status !== "running" && r.status !== "paused")) {
      throw errors.invalidState(r.name, r.status, "running or paused to report stats", `Start it with 'nexus start ${r.name}'`);
    }
    const s = await this.#ws.engineOf(r).stats(r.containerId);
    return { workspaceId: r.id, ...s, timestamp: new Date().toISOString() };
  }

  /**
   * Samples every `intervalMs` (at least Docker's own pace of about one a second) from Docker's
   * stats stream, until the signal aborts or the container stops.
   */
  async streamStats(ref: string, intervalMs: number, onSample: (s: WorkspaceStats) => void, signal: AbortSignal): Promise<void> {
    const r = this.#ws.resolve(ref);
    if (!r.containerId || (r.status !== "running" && r.status !== "paused")) {
      throw errors.invalidState(r.name, r.status, "running or paused to report stats", `Start it with 'nexus start ${r.name}'`);
    }
    let last = 0;
    await this.#ws.engineOf(r).streamStats(
      r.containerId,
      (s) => {
        const now = Date.now();
        // Docker's samples come about a second apart: one within 100 ms of the interval counts as on time.
        if (last !== 0 && now - last < intervalMs - 100) return;
        last = now;
        onSample({ workspaceId: r.id, ...s, timestamp: new Date(now).toISOString() });
      },
      signal,
    );
  }

  /**
   * Resolves when the workspace reaches the condition, or with met=false at the timeout. Running and
   * stopped listen to the event bus; healthy (running, every service ready, the health-check hook
   * passing) then polls the workspace's health.
   */
  async wait(ref: string, condition: WaitCondition, timeoutMs: number, signal?: AbortSignal): Promise<{ workspaceId: string; status: WorkspaceStatus; met: boolean; durationMs: number }> {
    if (!["running", "healthy", "stopped"].includes(condition)) {
      throw errors.invalidArgument(`Unknown condition '${condition}'`, "Use running, healthy or stopped", { condition });
    }
    const started = Date.now();
    const running = await this.#waitStatus(ref, condition, timeoutMs, signal);
    if (condition !== "healthy" || !running.met) return running;
    let last = running.status;
    const settled = await pollUntil(
      async () => {
        const h = await this.#ws.health(running.workspaceId).catch(() => undefined);
        if (h) last = h.status;
        if (h?.healthy) return { ...running, status: h.status, durationMs: Date.now() - started };
        if (h && h.status !== "running") return { ...running, status: h.status, met: false, durationMs: Date.now() - started };
        return undefined;
      },
      { deadline: started + timeoutMs, intervalMs: 500, signal },
    );
    return settled ?? { ...running, status: last, met: false, durationMs: Date.now() - started };
  }

  #waitStatus(ref: string, condition: WaitCondition, timeoutMs: number, signal?: AbortSignal): Promise<{ workspaceId: string; status: WorkspaceStatus; met: boolean; durationMs: number }> {
    const want: WorkspaceStatus = condition === "stopped" ? "stopped" : "running";
    const r = this.#ws.resolve(ref);
    const started = Date.now();
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (status: WorkspaceStatus, met: boolean) => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener("abort", onAbort);
        resolve({ workspaceId: r.id, status, met, durationMs: Date.now() - started });
      };
      const onAbort = () => {
        clearTimeout(timer);
        unsubscribe();
        reject(new NexusError("INVALID_STATE", "The wait was cancelled", { suggestion: "Wait again" }));
      };
      const unsubscribe = this.#events.subscribe((e) => {
        if (e.type !== "workspace.status" || e.payload.workspaceId !== r.id) return;
        const status = e.payload.status as WorkspaceStatus;
        if (status === want) finish(status, true);
        else if (status === "destroyed" || status === "destroying") finish(status, false);
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      let now: WorkspaceStatus;
      try {
        now = this.#ws.resolve(r.id).status;
      } catch {
        return finish("destroyed", false);
      }
      if (now === want) return finish(now, true);
      timer = setTimeout(() => {
        let status: WorkspaceStatus = "destroyed";
        try {
          status = this.#ws.resolve(r.id).status;
        } catch {
          // gone meanwhile
        }
        finish(status, status === want);
      }, Math.max(0, timeoutMs));
    });
  }
}
