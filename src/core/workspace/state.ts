import { errors, type NexusError } from "../../kernel/errors.ts";
import type { WorkspaceRecord, WorkspaceStatus } from "../../kernel/types.ts";

/**
 * The workspace lifecycle as one table: for each operation, the statuses it proceeds from, the ones
 * where it is already done (it answers without acting), the status it leads to and how it refuses the
 * rest. Operations ask `transition()` instead of carrying a guard of their own.
 */
export type LifecycleOp = "start" | "stop" | "pause" | "resume" | "destroy" | "use";

interface Rule {
  from: readonly WorkspaceStatus[];
  already: readonly WorkspaceStatus[];
  /** The status a successful operation leaves (use: none, it acts inside a running workspace). */
  to?: WorkspaceStatus;
  /** "it must be <need>" in the refusal. */
  need: string;
  /** What to do instead, per status the operation refuses; the default points at `nexus status`. */
  hints?: Partial<Record<WorkspaceStatus, (name: string) => string>>;
}

const resumeIt = (n: string) => `Resume it with 'nexus resume ${n}'`;
const startIt = (n: string) => `Start it with 'nexus start ${n}'`;

/** What to do with a workspace that is not running, for operations that act inside one. */
const NOT_RUNNING_HINTS: Rule["hints"] = {
  stopped: startIt,
  paused: resumeIt,
  pending: () => "Wait until it is created",
  error: (n) => `See 'nexus status ${n}'; 'nexus start ${n}' tries again`,
};

export const TRANSITIONS: Readonly<Record<LifecycleOp, Rule>> = {
  // `running` is checked against the engine first: the record may lag behind a container stopped behind our back.
  start: { from: ["stopped", "error"], already: ["running"], to: "running", need: "stopped to start", hints: { paused: resumeIt } },
  stop: { from: ["running", "paused", "error"], already: ["stopped"], to: "stopped", need: "running or paused to stop" },
  pause: { from: ["running"], already: ["paused"], to: "paused", need: "running to pause it", hints: NOT_RUNNING_HINTS },
  resume: { from: ["paused"], already: ["running"], to: "running", need: "paused to resume", hints: { stopped: startIt } },
  // A pending workspace is still being created: its create finishes (or rolls back) first.
  destroy: { from: ["running", "paused", "stopped", "error", "destroying"], already: [], to: "destroying", need: "created first" },
  use: { from: ["running"], already: [], need: "running", hints: NOT_RUNNING_HINTS },
};

/** Where `op` stands for a workspace in `status`: proceed, already done, or refused. */
export function transition(op: LifecycleOp, status: WorkspaceStatus): "go" | "already" | "refused" {
  const rule = TRANSITIONS[op];
  if (rule.from.includes(status)) return "go";
  if (rule.already.includes(status)) return "already";
  return "refused";
}

/** The INVALID_STATE error of `op` refused for `r`; `doing` completes "running to …" for `use`. */
export function refusal(op: LifecycleOp, r: Pick<WorkspaceRecord, "name" | "status">, doing?: string): NexusError {
  const rule = TRANSITIONS[op];
  const hint = rule.hints?.[r.status]?.(r.name) ?? `See 'nexus status ${r.name}'`;
  if (op === "destroy") return errors.invalidState(r.name, "being created", rule.need, "Wait for the create to finish, then destroy it");
  return errors.invalidState(r.name, r.status, doing ? `${rule.need} to ${doing}` : rule.need, hint);
}

/** Proceeds or says `already`; throws the refusal otherwise. */
export function check(op: LifecycleOp, r: Pick<WorkspaceRecord, "name" | "status">, doing?: string): "go" | "already" {
  const t = transition(op, r.status);
  if (t === "refused") throw refusal(op, r, doing);
  return t;
}

/** For operations that act inside the workspace (exec, tunnel, hooks, logs, ...): it must be running. */
export function requireRunning(r: Pick<WorkspaceRecord, "name" | "status">, doing: string): void {
  check("use", r, doing);
}

/** The status `op` leaves. */
export function target(op: Exclude<LifecycleOp, "use">): WorkspaceStatus {
  return TRANSITIONS[op].to!;
}
