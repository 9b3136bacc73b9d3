// The tmux command lines the daemon runs inside a workspace (over its pooled SSH connection) and the
// parsers of what they print. Pure: no I/O here, so every line is unit-tested.
import { randomBytes } from "node:crypto";
import { shellQuote } from "../../ssh/quote.ts";
import { EXIT_MARK } from "./text-lines.ts";

/**
 * Nexus sessions live on their own tmux server (`-L nexus`): a user's own tmux in the workspace is
 * never touched, and ours never reads ~/.tmux.conf (`-f /dev/null`), so it behaves the same everywhere.
 * `-u`: ssh2 sends no LANG, and tmux would otherwise draw UTF-8 as `_`.
 */
export const TMUX = "tmux -L nexus -f /dev/null -u";

/** Ids are ours, `ses-` + 8 hex, so tmux's prefix matching of session names can never pick another one. */
export const SESSION_ID = /^ses-[0-9a-f]{8}$/;

export function newSessionId(): string {
  return `ses-${randomBytes(4).toString("hex")}`;
}

/** Lines of scrollback kept per session (the tail that `logs` and `attach` can show). */
export const HISTORY_LIMIT = 50_000;
/**
 * Rows one follow capture takes at most: 1,000 columns wide (the widest pane) that is under 2 MiB,
 * well inside the daemon's 4 MiB cap on a shell's output (output-cap.ts).
 */
export const FOLLOW_ROWS = 2000;

/**
 * Server options, set before every new session (the first one starts the server):
 * - remain-on-exit: a finished command's pane stays, with its output and exit status, until killed;
 * - status off, prefix None: the session looks like a plain terminal and every key reaches the
 *   program (detaching is the Nexus client's key, Ctrl-\ by default, not tmux's);
 * - smcup@/rmcup@: tmux draws on the main screen, so what scrolls off lands in the user's own
 *   terminal scrollback (tmux's alternate screen would hide it).
 */
const SERVER_OPTIONS = [
  "set -g remain-on-exit on",
  `set -g history-limit ${HISTORY_LIMIT}`,
  "set -g status off",
  "set -g prefix None",
  "set -g escape-time 0",
  "set -g aggressive-resize on",
  "set -g terminal-overrides ',*:smcup@:rmcup@'",
];

export type SessionKind = "console" | "command";

export interface NewSession {
  id: string;
  /** A shell command line (already quoted); empty: the user's login shell. */
  commandLine: string;
  /** What `list` shows as the command. */
  label: string;
  kind: SessionKind;
  cwd: string;
  cols: number;
  rows: number;
  env?: Record<string, string>;
}

/**
 * tmux runs the command with `$SHELL -c`; the wrapper records its exit code in the session
 * (@nexus-exit) before the pane dies, so the code is known however the pane's terminal closed, and
 * a session counts as finished from that moment.
 */
function wrapped(id: string, commandLine: string): string {
  // Then it detaches the session's clients, so an attach ends and reports the code. (tmux's own
  // pane-died hook is not enough: tmux 3.3 sometimes never reaps the command, and never fires it.)
  // First the exit mark, invisible on the screen: in the output log it says the output is complete.
  return `(${commandLine}); c=$?; printf '\\033]${EXIT_MARK};%s\\007' "$c"; t="\${TMUX%%,*}"; tmux -S "$t" set-option -t ${id} @nexus-exit "$c" 2>/dev/null; tmux -S "$t" detach-client -s ${id} 2>/dev/null; exit "$c"`;
}

/** One shell line: starts the server if needed, sets its options, creates the session with its labels. */
export function newSessionLine(s: NewSession): string {
  const env = { LANG: "C.UTF-8", ...(s.env ?? {}) };
  const create = [
    "new-session -d",
    `-s ${s.id}`,
    `-x ${s.cols} -y ${s.rows}`,
    `-c ${shellQuote(s.cwd)}`,
    ...Object.entries(env).map(([k, v]) => `-e ${shellQuote(`${k}=${v}`)}`),
    shellQuote(wrapped(s.id, s.commandLine || '"$SHELL" -l')),
  ].join(" ");
  const labels = [`set-option -t ${s.id} @nexus-kind ${s.kind}`, `set-option -t ${s.id} @nexus-command ${shellQuote(s.label)}`];
  return `${TMUX} start-server \\; ${[...SERVER_OPTIONS, create, ...labels].join(" \\; ")}`;
}

/**
 * A finished command's code: what the wrapper recorded (@nexus-exit), else tmux's own status or
 * signal (tmux 3.3 sometimes never learns the status when the terminal closed first).
 */
const CODE = "x#{@nexus-exit}y#{pane_dead_status}s#{pane_dead_signal}";

/** Fields of `list-sessions -F`, separated by a byte no command label holds (labels are one line). */
const SEP = "\u001f";
const FIELDS = [
  "#{session_name}",
  "#{session_created}",
  "#{session_attached}",
  "#{pane_dead}",
  CODE,
  "#{window_activity}",
  "#{@nexus-kind}",
  "#{window_width}",
  "#{window_height}",
  "#{@nexus-command}",
];

/** Lists the server's sessions; no server (no session yet) prints nothing and succeeds. */
export function listLine(): string {
  return `${TMUX} list-sessions -F ${shellQuote(FIELDS.join(SEP))} 2>/dev/null || true`;
}

export interface TmuxSession {
  id: string;
  createdAt: string;
  attached: number;
  dead: boolean;
  exitCode: number | null;
  /** Last output in the session's window (tmux's window_activity). */
  lastOutputAt: string | null;
  kind: SessionKind;
  cols: number;
  rows: number;
  command: string;
}

export function parseList(stdout: string): TmuxSession[] {
  const out: TmuxSession[] = [];
  for (const line of stdout.split("\n")) {
    const f = line.split(SEP);
    if (f.length < FIELDS.length || !SESSION_ID.test(f[0]!)) continue; // not one of ours
    const dead = f[3] === "1" || recorded(f[4]!);
    const code = dead ? deadCode(f[4]!) : null;
    const activity = Number.parseInt(f[5]!, 10);
    out.push({
      id: f[0]!,
      createdAt: epoch(f[1]!) ?? new Date(0).toISOString(),
      attached: Number.parseInt(f[2]!, 10) || 0,
      dead,
      exitCode: dead ? code : null,
      lastOutputAt: Number.isFinite(activity) && activity > 0 ? new Date(activity * 1000).toISOString() : null,
      kind: f[6] === "console" ? "console" : "command",
      cols: Number.parseInt(f[7]!, 10) || 0,
      rows: Number.parseInt(f[8]!, 10) || 0,
      command: f.slice(9).join(SEP),
    });
  }
  return out;
}

/** The wrapper recorded an exit code: the command has finished, whether or not tmux has noticed yet. */
function recorded(field: string): boolean {
  return /^x\d/.test(field.trim());
}

/** The code field: the wrapper's record, else tmux's status, else 128 + tmux's signal; null when none is known. */
export function deadCode(field: string): number | null {
  const m = /^x(\d*)y(\d*)s(\d*)$/.exec(field.trim());
  if (!m) return null;
  if (m[1]) return Number(m[1]);
  if (m[2]) return Number(m[2]);
  if (m[3]) return 128 + Number(m[3]);
  return null;
}

function epoch(s: string): string | undefined {
  const n = Number.parseInt(s, 10);
  return Number.isFinite(n) ? new Date(n * 1000).toISOString() : undefined;
}

/** Exit status 1 and this on stderr: tmux has no such session (or no server at all). */
export function isMissing(stderr: string): boolean {
  return /can't find session|no server running|session not found|error connecting|server exited unexpectedly|lost server/i.test(stderr);
}

/** The pane's state, one line: dead, exit status, history lines, cursor row, height (":"-separated; the status is empty while it runs). */
const STATE = `#{pane_dead}:${CODE}:#{history_size}:#{cursor_y}:#{pane_height}`;

/** The pane's text, then its state line (last: a capped answer loses its front, never the state): `-S -N` is N lines of history above the visible screen. */
export function captureLine(id: string, historyLines: number): string {
  return `st=$(${TMUX} display-message -p -t ${id}: ${shellQuote(STATE)}) && ${TMUX} capture-pane -p -J -t ${id}: -S -${Math.max(0, Math.floor(historyLines))} && echo "$st"`;
}

/**
 * For following a session's output line by line: the complete lines from absolute line `from` on (0 = the oldest history line kept; `tail`: that many
 * lines before the cursor's row) — up to the cursor's row (exclusive) while the program runs, to the
 * bottom of the screen once it has finished; then the state line (with the start line appended).
 */
export function followLine(id: string, start: { from: number } | { tail: number }): string {
  // A finished pane: N rows of history and the whole screen (its last output may sit above blank rows); the caller keeps the last N.
  const n = "tail" in start ? Math.max(0, Math.floor(start.tail)) : 0;
  const from = "from" in start ? String(Math.max(0, Math.floor(start.from))) : `$1 == 1 ? $3 - ${n} : $3 + $4 - ${n}`;
  const state = `${TMUX} display-message -p -t ${id}: ${shellQuote(STATE)}`;
  return [
    // Output arriving between reading the state and capturing would shift the rows under the numbers:
    // the state is read again after the capture, and the pair taken again (a few times) until it held still.
    "n=0",
    "while :; do",
    `st=$(${state}) || exit 1`,
    "IFS=:; set -- $st",
    `f=$((${from})); [ "$f" -lt 0 ] && f=0`,
    // -S/-E count from the top of the visible screen, negative into the history ($3 lines of it).
    `if [ "$1" = 1 ]; then e=$(($5 - 1)); else e=$(($4 - 1)); fi`,
    // At most FOLLOW_ROWS rows a time (c=1: more are there): a follower far behind takes several
    // bounded captures rather than one the shell's output cap would cut.
    `c=0; if [ $((e - (f - $3))) -ge ${FOLLOW_ROWS} ]; then e=$((f - $3 + ${FOLLOW_ROWS} - 1)); c=1; fi`,
    `out=$(if [ "$f" -le $(($3 + e)) ]; then ${TMUX} capture-pane -p -J -t ${id}: -S $((f - $3)) -E $e; fi; echo .)`,
    `n=$((n + 1)); [ "$(${state})" = "$st" ] || [ $n -ge 5 ] && break`,
    "done",
    'printf %s "${out%.}"',
    'echo "$st:$f:$c:$(($3 + e + 1))"',
  ].join("\n");
}

export interface PaneState {
  dead: boolean;
  /** followLine: the absolute line the capture starts at. */
  from?: number;
  /** followLine: the capture stopped at FOLLOW_ROWS rows, before the end of what there is; `upto` is the absolute line after it. */
  capped?: boolean;
  upto?: number;
  exitCode: number | null;
  historySize: number;
  cursorY: number;
  height: number;
}

/** Splits a capture's output into the pane's lines and the state line (the last one). */
export function parseCapture(stdout: string): { state: PaneState; lines: string[] } {
  const text = stdout.endsWith("\n") ? stdout.slice(0, -1) : stdout;
  const nl = text.lastIndexOf("\n");
  const state = parseState(nl < 0 ? text : text.slice(nl + 1));
  const lines = nl < 0 ? [] : text.slice(0, nl).split("\n");
  // A capped answer starts with a note of what was left out: not a line of the pane.
  if (lines[0]?.startsWith("[… ") && lines[0].endsWith("left out]")) lines.shift();
  return { state, lines };
}

export function parseState(line: string): PaneState {
  const f = line.trim().split(":");
  const dead = f[0] === "1" || recorded(f[1] ?? "");
  const code = dead ? deadCode(f[1] ?? "") : null;
  return {
    dead,
    exitCode: dead ? code : null,
    historySize: Number.parseInt(f[2] ?? "0", 10) || 0,
    cursorY: Number.parseInt(f[3] ?? "0", 10) || 0,
    height: Number.parseInt(f[4] ?? "0", 10) || 0,
    ...(f[5] !== undefined ? { from: Number.parseInt(f[5], 10) || 0 } : {}),
    ...(f[6] !== undefined ? { capped: f[6] === "1" } : {}),
    ...(f[7] !== undefined ? { upto: Number.parseInt(f[7], 10) || 0 } : {}),
  };
}

/**
 * The text lines of a pane as a person reads them: without tmux's "Pane is dead" line and the
 * blank rows under the last output.
 */
export function contentLines(lines: readonly string[], dead: boolean): string[] {
  const out = lines.map((l) => l.replace(/\s+$/, ""));
  if (dead) {
    for (let i = out.length - 1; i >= 0; i--) {
      if (/^Pane is dead \(/.test(out[i]!)) {
        out.splice(i, 1);
        break;
      }
      if (out[i] !== "") break;
    }
  }
  while (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out;
}

/** The last `lines` rows of history above the visible screen, with colours (`-e`): what an attaching terminal shows first; then the state line. */
export function historyLine(id: string, lines: number): string {
  const capture = lines > 0 ? `${TMUX} capture-pane -p -J -e -t ${id}: -S -${Math.floor(lines)} -E -1 && ` : "";
  return `st=$(${TMUX} display-message -p -t ${id}: ${shellQuote(STATE)}) && ${capture}echo "$st"`;
}

/** Types `text` into the session as keys (literally: no key names), then Enter when asked. */
export function sendKeysLine(id: string, text: string, enter: boolean): string {
  const parts: string[] = [];
  if (text !== "") parts.push(`${TMUX} send-keys -t ${id}: -l -- ${shellQuote(text)}`);
  if (enter) parts.push(`${TMUX} send-keys -t ${id}: Enter`);
  return parts.join(" && ");
}

export function killLine(id: string): string {
  return `${TMUX} kill-session -t ${id}`;
}

/** Whether the session exists: exit 0 when it does. `=` asks for the exact name. */
export function hasLine(id: string): string {
  return `${TMUX} has-session -t =${id}`;
}

/** The terminal client: `-r` reads only (nothing typed reaches the program). */
export function attachLine(id: string, readOnly: boolean): string {
  // A terminal the image has no description of (kitty, alacritty, ...) would make tmux refuse to attach.
  const knownTerm = 'if command -v infocmp >/dev/null 2>&1 && ! infocmp "$TERM" >/dev/null 2>&1; then export TERM=xterm-256color; fi';
  return `${knownTerm}; exec ${TMUX} attach-session ${readOnly ? "-r " : ""}-t =${id}`;
}

/** State of one pane, for after an attach ends: detached (alive) or finished (dead, with its code). */
export function paneStateLine(id: string): string {
  return `${TMUX} display-message -p -t ${id}: ${shellQuote(STATE)}`;
}
