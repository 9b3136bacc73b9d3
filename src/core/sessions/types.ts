// What a session looks like to every transport. Field names follow the spec's session object
// (snake_case: id, workspace_id, status, created_at); the others extend it the same way.
import type { SessionKind } from "./tmux.ts";

export type SessionStatus = "active" | "exited";

export interface SessionView {
  id: string;
  workspace_id: string;
  workspace_name: string;
  /** active: the command runs; exited: it finished, its output and code are kept until the session is killed. */
  status: SessionStatus;
  created_at: string;
  /** console: an interactive shell (`nexus console`); command: `exec --detach`. */
  kind: SessionKind;
  command: string;
  exit_code: number | null;
  /** Terminal clients attached now (through the daemon or a plain `ssh`). */
  attached_clients: number;
  /** Last time the session printed something; null when not known. */
  last_output_at: string | null;
  /** The workspace is paused: this is what the session was when last seen (it resumes on attach). */
  stale?: boolean;
}

export interface CreateSessionInput {
  workspace: string;
  kind: SessionKind;
  /** argv of the command; empty for a console (the user's login shell). */
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
  cols?: number;
  rows?: number;
}

export interface SessionLogs {
  sessionId: string;
  status: SessionStatus;
  exitCode: number | null;
  lines: string[];
}

/** How an attach ended: the client detached, the command finished (with its code), or the session was killed. */
export interface AttachEnd {
  sessionId: string;
  reason: "detached" | "exited" | "killed";
  exitCode: number | null;
}

export interface TerminalSize {
  cols: number;
  rows: number;
}

/** An interactive attach: a terminal client of the session, over the daemon. */
export interface TerminalAttach {
  sessionId: string;
  write(data: string | Buffer): void;
  resize(size: TerminalSize): void;
  /** Detaches this client; the session runs on. */
  detach(): void;
  /** Settles when the client is gone: detached, the command finished, or the session was killed. */
  done: Promise<AttachEnd>;
}
