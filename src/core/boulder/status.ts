// `nexus boulder status`: the seed's "boulder" is an agent plugin's keep-working enforcement, whose
// state lives in the project as .nexus/boulder/state.json (iteration count, activity times, status)
// with .nexus/boulder/pause.flag while paused. Nexus only reads it: the plugin owns the file.
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import * as v from "valibot";
import { NexusError } from "../../kernel/errors.ts";

export const BOULDER_DIR = join(".nexus", "boulder");
export const BOULDER_STATE_FILE = join(BOULDER_DIR, "state.json");
const PAUSE_FLAG = join(BOULDER_DIR, "pause.flag");
/** A state file is a few hundred bytes; anything this big is not one. */
const MAX_STATE_BYTES = 1024 * 1024;

const Millis = v.pipe(v.number(), v.finite());
// Loose: the plugin adds fields over time; the ones named here are what status shows.
const StateSchema = v.looseObject({
  status: v.optional(v.string()),
  iteration: v.optional(Millis),
  sessionStartTime: v.optional(Millis),
  totalWorkTimeMs: v.optional(Millis),
  tasksCompleted: v.optional(Millis),
  tasksCreated: v.optional(Millis),
  lastActivity: v.optional(Millis),
  lastEnforcement: v.optional(Millis),
  stopRequested: v.optional(v.boolean()),
});

export interface BoulderStatus {
  /** The project folder whose .nexus/boulder was read (or would be). */
  projectDir: string;
  stateFile: string;
  /** False when there is no state file: boulder has never run in this project. */
  active: boolean;
  /** The plugin's own status word (e.g. CONTINUOUS), or PAUSED while pause.flag exists. */
  status: string | null;
  paused: boolean;
  iteration: number | null;
  sessionStartedAt: string | null;
  lastActivityAt: string | null;
  lastEnforcementAt: string | null;
  totalWorkTimeMs: number | null;
  tasksCompleted: number | null;
  tasksCreated: number | null;
  stopRequested: boolean;
  /** The file as it is, for fields this view does not name. */
  state: Record<string, unknown> | null;
}

/** The project folder: the nearest folder from `from` up that has .nexus/boulder, else the git top (a .git), else `from`. */
export function boulderProjectDir(from: string): string {
  const start = resolve(from);
  let gitTop: string | undefined;
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, BOULDER_DIR))) return dir;
    if (!gitTop && existsSync(join(dir, ".git"))) gitTop = dir;
    if (dirname(dir) === dir) return gitTop ?? start;
  }
}

/** Reads the state of the project at `projectDir` (read only; a missing file is an inactive boulder, a damaged one an error). */
export function readBoulderStatus(projectDir: string): BoulderStatus {
  const stateFile = join(projectDir, BOULDER_STATE_FILE);
  const paused = existsSync(join(projectDir, PAUSE_FLAG));
  const empty: BoulderStatus = {
    projectDir, stateFile, active: false, status: null, paused, iteration: null, sessionStartedAt: null, lastActivityAt: null,
    lastEnforcementAt: null, totalWorkTimeMs: null, tasksCompleted: null, tasksCreated: null, stopRequested: false, state: null,
  };
  if (!existsSync(stateFile)) return empty;
  const text = readSmallFile(stateFile);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw damaged(stateFile, `it is not JSON (${(err as Error).message})`);
  }
  // valibot's objects take arrays; a state file is one JSON object.
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw damaged(stateFile, "it is not a JSON object");
  const parsed = v.safeParse(StateSchema, json);
  if (!parsed.success) {
    const issue = parsed.issues[0]!;
    const where = issue.path?.map((p) => String(p.key)).join(".") || "the file";
    throw damaged(stateFile, `${where}: ${issue.message}`);
  }
  const s = parsed.output;
  const at = (ms: number | undefined) => (ms !== undefined && ms > 0 ? new Date(ms).toISOString() : null);
  return {
    ...empty,
    active: true,
    status: paused ? "PAUSED" : (s.status ?? null),
    iteration: s.iteration ?? null,
    sessionStartedAt: at(s.sessionStartTime),
    lastActivityAt: at(s.lastActivity),
    lastEnforcementAt: at(s.lastEnforcement),
    totalWorkTimeMs: s.totalWorkTimeMs ?? null,
    tasksCompleted: s.tasksCompleted ?? null,
    tasksCreated: s.tasksCreated ?? null,
    stopRequested: s.stopRequested === true,
    state: s as Record<string, unknown>,
  };
}

function readSmallFile(file: string): string {
  if (!statSync(file).isFile()) throw damaged(file, "it is not a regular file");
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_STATE_BYTES) throw damaged(file, `it is ${size} bytes, more than a state file's ${MAX_STATE_BYTES}`);
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

function damaged(file: string, why: string): NexusError {
  return new NexusError("INVALID_STATE", `The boulder state file ${file} cannot be read: ${why}`, {
    suggestion: "Boulder's agent plugin writes this file; fix or remove it (Nexus only reads it)",
    details: { stateFile: file },
  });
}
