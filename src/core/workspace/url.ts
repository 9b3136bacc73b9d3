// `nexus url` / GET /workspaces/{id}/url: the address a user means. A healthy service (or a running
// one without a health check) with a URL comes first; else a published port where something
// listens inside on an address the published port reaches; else the first published port, marked
// `listening: false` so the caller can say that nothing answers there yet.
import { NexusError } from "../errors.ts";
import { listeningOn, parseProcNetTcp, PROC_NET_TCP } from "../listeners.ts";
import type { ServiceView, WorkspaceRecord } from "../types.ts";
import type { WorkspaceChannel } from "./channel.ts";

export interface WorkspaceUrl {
  workspaceId: string;
  url: string;
  containerPort: number;
  hostPort: number;
  /** The service behind it, when it is one. */
  service?: string;
  /** Whether something listens behind it (false: nothing answers there yet). */
  listening: boolean;
}

export async function workspaceUrl(r: WorkspaceRecord, services: readonly ServiceView[], channel: WorkspaceChannel): Promise<WorkspaceUrl> {
  const ready = services.find((s) => s.url && s.hostPort !== null && s.containerPort !== null && (s.status === "healthy" || s.status === "running") && !s.hint);
  if (ready) return { workspaceId: r.id, url: ready.url!, containerPort: ready.containerPort!, hostPort: ready.hostPort!, service: ready.name, listening: true };
  if (r.ports.services.length === 0) {
    throw new NexusError("INVALID_STATE", `Workspace '${r.name}' publishes no port`, {
      suggestion: `Create it with a port ('nexus create ${r.name} -p 3000'), or forward one ('nexus proxy ${r.name} 3000')`,
      details: { workspaceName: r.name },
    });
  }
  const listeners =
    r.status === "running"
      ? await channel
          .shell(r)
          .run(PROC_NET_TCP)
          .then((o) => parseProcNetTcp(o.stdout), () => [])
      : [];
  const answering = r.ports.services.find((p) => {
    const l = listeningOn(listeners, p.containerPort);
    return l.listening && !l.loopbackOnly;
  });
  const port = answering ?? r.ports.services[0]!;
  return { workspaceId: r.id, url: `http://localhost:${port.hostPort}`, containerPort: port.containerPort, hostPort: port.hostPort, listening: answering !== undefined };
}
