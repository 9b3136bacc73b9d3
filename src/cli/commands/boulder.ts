import { boulderProjectDir, readBoulderStatus, type BoulderStatus } from "../../core/boulder/status.ts";
import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { CliContext } from "../context.ts";
import { ago, writeOut } from "../output.ts";

/** The seed's other boulder verbs: the agent plugin owns its state, so Nexus answers them plainly. */
const NOT_SUPPORTED = ["pause", "resume", "enforce", "config", "logs", "start", "stop", "reset", "help"];

/** `nexus boulder status [--dir path]`: read-only view of .nexus/boulder/state.json (core/boulder/status.ts). */
export async function boulderCommand(ctx: CliContext, action: string | undefined, flags: { dir?: string }): Promise<number> {
  if (action === undefined || action === "status") {
    const s = readBoulderStatus(boulderProjectDir(flags.dir ? String(flags.dir) : process.cwd()));
    await writeOut(ctx.json ? JSON.stringify(s, null, 2) + "\n" : statusText(s));
    return EXIT_CODES.ok;
  }
  if (NOT_SUPPORTED.includes(action)) {
    throw new NexusError("UNIMPLEMENTED", `'nexus boulder ${action}' is not supported: Nexus only reads boulder's state`, {
      suggestion: "Run 'nexus boulder status'; the agent plugin that writes .nexus/boulder/ manages the rest",
    });
  }
  throw new NexusError("INVALID_ARGUMENT", `Unknown boulder command '${action}'`, { suggestion: "Run 'nexus boulder status'" });
}

function statusText(s: BoulderStatus): string {
  if (!s.active) return `Boulder is not active in ${s.projectDir} (no ${s.stateFile})\n`;
  const when = (iso: string | null) => (iso ? `${iso} (${ago(iso)})` : "-");
  const n = (x: number | null) => (x === null ? "-" : String(x));
  return (
    `Boulder ${s.status ?? "(no status)"}${s.paused ? " (pause.flag present)" : ""}${s.stopRequested ? ", stop requested" : ""}\n` +
    `  state file        ${s.stateFile}\n` +
    `  iteration         ${n(s.iteration)}\n` +
    `  session started   ${when(s.sessionStartedAt)}\n` +
    `  last activity     ${when(s.lastActivityAt)}\n` +
    `  last enforcement  ${when(s.lastEnforcementAt)}\n` +
    `  work time         ${s.totalWorkTimeMs === null ? "-" : duration(s.totalWorkTimeMs)}\n` +
    `  tasks             ${n(s.tasksCompleted)} completed of ${n(s.tasksCreated)} created\n`
  );
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}
