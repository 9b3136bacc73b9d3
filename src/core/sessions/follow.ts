// Following a session's output as text lines without being a terminal client of it: the daemon asks
// tmux, every interval, for the lines past the last one it gave (tmux's history plus the screen are
// numbered from the oldest line kept), so `logs -f`, REST/gRPC attach and scripts see plain lines.
import { contentLines, HISTORY_LIMIT, parseCapture, type PaneState } from "./tmux.ts";

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
