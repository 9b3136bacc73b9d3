// Following a session's output as text lines without being a terminal client of it: `logs -f`,
// REST/gRPC attach and scripts see plain lines. The daemon reads the session's output log
// (output-log.ts) by byte offset, every interval or at once while more is there, and turns the bytes
// into lines (text-lines.ts). Sessions without a log (made by an older daemon, or in an image without
// GNU split) are followed the old way: tmux's rows, numbered from the oldest one kept.
import { StringDecoder } from "node:string_decoder";
import { waitAck } from "../../kernel/ack.ts";
import { sleep } from "../../kernel/poll.ts";
import { LOG_GEOMETRY, type LogGeometry, type LogStart, parseLogRead, readLogLine } from "./output-log.ts";
import { TerminalLines } from "./text-lines.ts";
import { contentLines, followLine, HISTORY_LIMIT, isMissing, parseCapture, type PaneState } from "./tmux.ts";
import type { AttachEnd } from "./types.ts";

/** How often a follower that has read everything looks again. */
export const FOLLOW_INTERVAL_MS = 200;
/** A dead pane whose log shows no exit mark (its wrapper was killed) ends after this many reads with nothing new. */
const DEAD_QUIET_READS = 10;

/** Runs a shell line in the session's workspace. */
export type WorkspaceShell = (line: string) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

export interface FollowOptions {
  /** Lines printed before following: the last `tail` ones. */
  tail: number;
  signal?: AbortSignal;
  /** The follower was more than the log behind: this many bytes were removed before it read them. */
  onDropped?: (bytes: number) => unknown;
  /** The error for a tmux failure other than a missing session. */
  failed: (stderr: string) => Error;
  /** The log's shape the session was made with (tests). */
  geometry?: LogGeometry;
}

/**
 * The last `tail` lines, then each new line as it is printed, until the command finishes (its exit
 * code), the session is killed, or the signal aborts. A promise from `onLines` (its reader is behind)
 * holds the next read until it settles; the program is never slowed, so a reader more than the log
 * behind loses what was removed meanwhile (`onDropped` says how much).
 */
export async function followOutput(run: WorkspaceShell, id: string, opts: FollowOptions, onLines: (lines: string[]) => unknown): Promise<AttachEnd> {
  let start: LogStart = { tail: opts.tail };
  let asked = 0;
  const text = new TerminalLines();
  const decoder = new StringDecoder("utf8");
  /** While reading the tail: its lines are held until the end it had, then the last `tail` go out. */
  let tailEnd: number | undefined;
  let held: string[] = [];
  let quiet = 0;
  const g = opts.geometry ?? LOG_GEOMETRY;
  while (!opts.signal?.aborted) {
    const res = await readStep(run, readLogLine(id, start, g), opts);
    if (res === undefined) break;
    if (res === KILLED) return { sessionId: id, reason: "killed", exitCode: null };
    const read = parseLogRead(res, asked, g);
    if (read.kind === "nolog") return followRows(run, id, opts, onLines);
    if (read.tailStart !== undefined) {
      // The tail's bytes alone, up to the end it had: what comes after them is live output.
      tailEnd = read.tailStart < read.end ? read.end : undefined;
      start = { offset: read.tailStart, ...(tailEnd !== undefined ? { max: tailEnd - read.tailStart } : {}) };
      asked = read.tailStart;
      continue;
    }
    if (read.dropped > 0) await waitAck(opts.onDropped?.(read.dropped));
    const chunk = text.write(decoder.write(read.bytes));
    const caughtUp = read.next >= read.end;
    quiet = read.state.dead && caughtUp && read.bytes.length === 0 ? quiet + 1 : 0;
    const finished = chunk.exitCode !== undefined || quiet >= DEAD_QUIET_READS;
    let lines = finished ? [...chunk.lines, ...text.write(decoder.end()).lines, ...text.flush()] : chunk.lines;
    if (tailEnd !== undefined) {
      held.push(...lines);
      if (read.next < tailEnd && !finished) lines = [];
      else {
        lines = opts.tail > 0 ? held.slice(-opts.tail) : [];
        held = [];
        tailEnd = undefined;
      }
    }
    if (lines.length > 0) await waitAck(onLines(lines));
    if (finished) return { sessionId: id, reason: "exited", exitCode: chunk.exitCode ?? read.state.exitCode };
    start = tailEnd !== undefined ? { offset: read.next, max: tailEnd - read.next } : { offset: read.next };
    asked = read.next;
    if (caughtUp) await sleep(FOLLOW_INTERVAL_MS, opts.signal);
  }
  return { sessionId: id, reason: "detached", exitCode: null };
}

/**
 * A session without a log: tmux's rows past the last one given. Once tmux's history is full it drops
 * its oldest tenth at once and the numbering moves back, so a live follower can lose or repeat rows.
 */
async function followRows(run: WorkspaceShell, id: string, opts: FollowOptions, onLines: (lines: string[]) => unknown): Promise<AttachEnd> {
  let start: { tail: number } | { from: number } = { tail: opts.tail };
  let first = true;
  while (!opts.signal?.aborted) {
    const res = await readStep(run, followLine(id, start), opts);
    if (res === undefined) break;
    if (res === KILLED) return { sessionId: id, reason: "killed", exitCode: null };
    const step = followStep(res);
    const lines = first && step.finished ? step.lines.slice(-opts.tail) : step.lines;
    first = false;
    if (lines.length > 0) await waitAck(onLines(lines));
    if (step.finished) return { sessionId: id, reason: "exited", exitCode: step.exitCode };
    start = { from: step.next };
    if (!step.more) await sleep(FOLLOW_INTERVAL_MS, opts.signal);
  }
  return { sessionId: id, reason: "detached", exitCode: null };
}

const KILLED = Symbol("killed");

/**
 * One read of a follower: what the line printed; KILLED when the session is gone (or printed nothing);
 * undefined when the follower was stopped meanwhile. Any other failure is `opts.failed`'s error.
 */
async function readStep(run: WorkspaceShell, line: string, opts: FollowOptions): Promise<string | typeof KILLED | undefined> {
  const res = await run(line).catch((err: unknown) => {
    if (opts.signal?.aborted) return undefined;
    throw err;
  });
  if (!res) return undefined;
  if (res.exitCode !== 0 || res.stdout === "") {
    if (isMissing(res.stderr) || res.stdout === "") return KILLED;
    throw opts.failed(res.stderr);
  }
  return res.stdout;
}

export interface FollowStep {
  lines: string[];
  /** The absolute line to ask from next time. */
  next: number;
  /** The command finished: these were its last lines. */
  finished: boolean;
  exitCode: number | null;
  /** tmux's history is full, so lines drop off the top and numbering may skip or repeat a few. */
  historyFull: boolean;
  /** The capture stopped at FOLLOW_ROWS rows: more are there already, ask again at once. */
  more: boolean;
}

/**
 * Turns one `followLine` answer into the lines to print. While the command runs only complete rows
 * (above the cursor's row) count; once it has finished, everything down to its last output does.
 */
export function followStep(stdout: string): FollowStep {
  const { state, lines } = parseCapture(stdout);
  const from = state.from ?? 0;
  // A capped capture is whole rows before the end (finished or not): the rest comes next.
  if (state.capped && state.upto !== undefined) {
    return { lines: lines.map((l) => l.replace(/\s+$/, "")), next: state.upto, finished: false, exitCode: null, historyFull: isFull(state), more: true };
  }
  if (state.dead) {
    return { lines: contentLines(lines, true), next: from, finished: true, exitCode: state.exitCode, historyFull: isFull(state), more: false };
  }
  // A screen cleared (or a cursor moved up) goes back: rows written there again are new output.
  return { lines: lines.map((l) => l.replace(/\s+$/, "")), next: state.historySize + state.cursorY, finished: false, exitCode: null, historyFull: isFull(state), more: false };
}

function isFull(state: PaneState): boolean {
  return state.historySize >= HISTORY_LIMIT;
}
