// How a remote engine is reached: its Docker API, and its containers' ports, which stay on that
// machine (never opened to its network) and are served here on 127.0.0.1 listeners of the daemon's.
// ssh:// (ssh-tunnel.ts) forwards both over one pooled SSH connection; tcp:// with TLS
// (exec-tunnel.ts) has only the API, so each connection is an exec relay through it.
import type { NexusError } from "../../kernel/errors.ts";

export interface EngineTunnel {
  /** Where the engine is, for messages. */
  readonly address: string;
  /**
   * Whether containers publish their ports on the engine host's 127.0.0.1 (an SSH forward reaches
   * them there) or publish nothing at all (reached from inside the container through the API).
   */
  readonly publishes: boolean;
  /** The Docker API reachable (dialled, relayed): BACKEND_UNAVAILABLE with a suggestion otherwise. */
  up(): Promise<void>;
  /** What must exist for the API to be retried while the engine is away (event watching). */
  standby(): Promise<void>;
  unavailable(why: string, suggestion: string): NexusError;
  /** Holds 127.0.0.1:`localPort` here; each connection reaches `containerPort` of the container `id`. */
  listen(localPort: number, id: string, containerPort: number): Promise<void>;
  unlisten(localPort: number): void;
  listening(localPort: number): boolean;
  /** The container (re)started or went away: what was learnt about its ports is stale. */
  forget(id: string): void;
  close(): void;
}
