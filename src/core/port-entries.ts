// What a port of a workspace is, as `GET /ports` and the forward operations answer it: the shapes,
// and the view of what listens behind a port (with the hint that explains an empty page).
import { listeningOn, type TcpListener } from "./listeners.ts";
import type { PortForward, Visibility, WorkspaceRecord } from "../kernel/types.ts";

export type { PortForward, Visibility };

/** The answer of add and makePublic: the forward and what a person should know about it. */
export interface ForwardResult extends PortForward {
  /** False when an existing forward was returned (the same container port asked again). */
  created: boolean;
  message: string;
  /** The host port first tried, when another process took it meanwhile and a new one was used. */
  retriedFrom?: number;
}

/** One row of `GET /ports`: a port published at create, or a forward; with what listens inside. */
export interface PortEntry {
  kind: "published" | "forward";
  id: string;
  name?: string;
  containerPort: number;
  hostPort: number;
  visibility: Visibility;
  bindAddress: string;
  url: string;
  createdAt?: string;
  temporary?: boolean;
  /** Connections open through the forward now. */
  connections?: number;
  /** null: not known (the workspace is not running). */
  listening: boolean | null;
  loopbackOnly?: boolean;
  addresses?: string[];
  hint?: string;
}

/** A temporary forward and the wait that ends it. */
export interface HeldForward {
  forward: ForwardResult;
  until(signal: AbortSignal): Promise<{ reason: string }>;
}

/** What listens on a port inside, and the hint when that explains an empty page. */
export function listeningView(r: WorkspaceRecord, inside: TcpListener[] | undefined, containerPort: number, kind: PortEntry["kind"], hostPort: number): Pick<PortEntry, "listening" | "loopbackOnly" | "addresses" | "hint"> {
  if (!inside) {
    const hint =
      r.status === "paused"
        ? `The workspace is paused${kind === "forward" ? "; a connection resumes it" : ""}`
        : r.status === "running"
          ? "Could not read what listens inside the workspace"
          : `The workspace is ${r.status === "error" ? "in error" : r.status}; start it with 'nexus start ${r.name}'`;
    return { listening: null, hint };
  }
  const l = listeningOn(inside, containerPort);
  if (!l.listening) return { listening: false, hint: `Nothing listens on port ${containerPort} inside the workspace yet` };
  const base = { listening: true, loopbackOnly: l.loopbackOnly, addresses: l.addresses };
  if (kind === "published" && l.loopbackOnly) {
    return {
      ...base,
      hint:
        `The server inside listens on ${l.addresses.join(", ")} only, which the published port ${hostPort} does not reach: ` +
        `bind it to 0.0.0.0 (e.g. 'python3 -m http.server --bind 0.0.0.0', 'vite --host 0.0.0.0'), ` +
        `or forward the port ('nexus ports add ${r.name} ${containerPort}'), which reaches loopback too`,
    };
  }
  return base;
}
