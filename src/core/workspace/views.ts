// Read-only answers about workspaces: one, a filtered list, and the status object.
import { matchesSelector } from "../labels/selector.ts";
import type { ListWorkspacesInput } from "../inputs.ts";
import { toView, type WorkspaceRecord, type PortMapping, type WorkspaceStatusView, type WorkspaceView } from "../../kernel/types.ts";
import type { WorkspaceContext } from "./context.ts";
import type { IdleWatch } from "./idle.ts";
import type { WorkspaceServices } from "./services.ts";
import { serviceStates, type SupervisorState } from "../services.ts";
import type { WorkspaceChannel } from "./channel.ts";

export class WorkspaceViews {
  readonly #c: WorkspaceContext;
  readonly #channel: WorkspaceChannel;
  readonly #services: WorkspaceServices;
  readonly #idle: IdleWatch;

  constructor(c: WorkspaceContext, channel: WorkspaceChannel, services: WorkspaceServices, idle: IdleWatch) {
    this.#c = c;
    this.#channel = channel;
    this.#services = services;
    this.#idle = idle;
  }

  get(ref: string): WorkspaceView {
    return this.#view(this.#c.resolve(ref));
  }

  /** A workspace whose engine did not answer last time is marked so (its status is the last one known). */
  #view(r: WorkspaceRecord): WorkspaceView {
    const view = toView(this.#c.activity.withActivity(r));
    const why = r.engine ? this.#c.unreachable.get(r.engine) : undefined;
    if (why && !view.error) view.error = { code: "BACKEND_UNAVAILABLE", message: `Engine '${r.engine}' is unreachable; the status shown is the last one known: ${why}` };
    return view;
  }

  list(filter: ListWorkspacesInput = {}): WorkspaceView[] {
    const c = this.#c;
    let records = c.d.store.list();
    if (filter.status) records = records.filter((r) => r.status === filter.status);
    if (filter.backend) records = records.filter((r) => r.backend === filter.backend);
    const selector = filter.label_selector;
    if (selector) records = records.filter((r) => matchesSelector(selector, r.labels ?? {}));
    return records.map((r) => this.#view(r));
  }

  async status(ref: string): Promise<WorkspaceStatusView> {
    const c = this.#c;
    const r = c.activity.withActivity(c.resolve(ref));
    const project = c.projectOrNone(r);
    const states = r.status === "running" && project?.services.length ? await this.#channel.serviceShell(r).then(serviceStates).catch(() => new Map<string, SupervisorState>()) : new Map<string, SupervisorState>();
    const services = await Promise.all((project?.services ?? []).map((def) => this.#services.serviceHealth(r, def, states.get(def.name))));
    const portStatus = (p: PortMapping) => {
      const svc = project?.services.find((sv) => sv.port === p.containerPort);
      if (svc) return states.get(svc.name)?.status ?? "stopped";
      return r.status === "running" ? "published" : "stopped";
    };
    const view: WorkspaceStatusView = {
      workspaceId: r.id,
      name: r.name,
      status: r.status,
      backend: r.backend,
      containerId: r.containerId,
      ports: {
        ssh: r.ports.ssh,
        services: [
          ...r.ports.services.map((p) => ({ ...p, status: portStatus(p) })),
          // Forwards added at run time (their host port is the daemon's listener).
          ...(c.forwarder?.forwardsOf(r.id) ?? []).map((f) => ({ name: project?.services.find((sv) => sv.port === f.containerPort)?.name ?? f.id, containerPort: f.containerPort, hostPort: f.hostPort, status: "forwarded" })),
        ],
      },
      // From the sync service (src/core/sync/); without one, the local engine's bind mount: nothing to sync.
      sync: c.syncSummary?.(r) ?? { provider: "bind", status: "syncing", lastSyncAt: null },
      createdAt: r.createdAt,
      lastActiveAt: r.lastActiveAt,
      branch: r.branch,
      worktreePath: r.mountPath,
      resources: r.resources,
      labels: r.labels ?? {},
      idle: await this.#idle.view(r),
      services,
    };
    if (project && project.files.length > 0) view.configuration = { files: project.files, sources: project.sources, overridden: project.overridden };
    if (r.error) view.error = r.error;
    return view;
  }
}
