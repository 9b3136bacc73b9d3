// A session's output log: tmux pipes everything the session's program writes (`pipe-pane`) into
// numbered chunk files in the container, so a follower reads it by absolute byte offset, which never
// moves under it. (tmux's own rows are renumbered once its history is full: it drops the oldest tenth
// at once, and no format tells how many rows were ever written.) The log is bounded: the writer
// removes the oldest chunk as it starts a new one. Pure: the shell lines and their parsers.
import { shellQuote } from "../../ssh/quote.ts";
import { killLine, newSessionLine, paneStateLine, parseState, SESSION_ID, TMUX, type NewSession, type PaneState } from "./tmux.ts";

/** Where the logs live in the container: gone with the container's tmux server, swept at the next session's start. */
export const LOG_ROOT = "/tmp/nexus-sessions";
/** Bytes per chunk file. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
/** Chunks kept: a follower at most (CHUNKS_KEPT - 1) * CHUNK_BYTES (60 MiB) behind loses nothing. */
export const CHUNKS_KEPT = 16;

/** The log's shape: the writer and the reader must agree (the daemon's constants; tests use small ones). */
export interface LogGeometry {
  chunkBytes: number;
  chunksKept: number;
}
export const LOG_GEOMETRY: LogGeometry = { chunkBytes: CHUNK_BYTES, chunksKept: CHUNKS_KEPT };
/** Bytes one read takes at most (base64: 1.4 MB, well inside the daemon's 4 MiB cap on a shell's output). */
export const READ_BYTES = 1024 * 1024;

/**
 * The session's log folder. Every line here puts it in a shell unquoted (and `kill` removes it with
 * rm -rf), so anything but one of our ids is refused here too, not only where a request comes in.
 */
export function logDir(id: string): string {
  if (!SESSION_ID.test(id)) throw new Error(`not a session id: ${JSON.stringify(id)}`);
  return `${LOG_ROOT}/${id}`;
}

/** The chunk file of an index: zero-padded, so `ls` lists them in order. */
function chunkName(i: string): string {
  return `$(printf %010d ${i})`;
}

/**
 * The pipe-pane command: GNU split cuts the stream into CHUNK_BYTES files (it writes each read as it
 * comes, so the log is live) and each new chunk's filter removes the one CHUNKS_KEPT before it.
 */
export function writerCommand(id: string, g: LogGeometry = LOG_GEOMETRY): string {
  const filter = `n=$(expr "\${FILE##*/}" + 0); [ "$n" -lt ${g.chunksKept} ] || rm -f "\${FILE%/*}/${chunkName(`$((n - ${g.chunksKept}))`)}"; exec cat > "$FILE"`;
  // split's filter runs in $SHELL, which may be the user's fish or zsh.
  return `SHELL=/bin/sh exec split -b ${g.chunkBytes} -d -a 10 --filter=${shellQuote(filter)} - ${logDir(id)}/`;
}

/**
 * Shell, run before the session is made: succeeds when the image can keep a log (GNU split), after
 * making the session's folder and sweeping the folders of sessions that no longer exist (a minute
 * old at least: a session being made has its folder a moment before tmux knows it).
 */
function prepareLogLine(id: string): string {
  return [
    `for d in $(find ${LOG_ROOT} -mindepth 1 -maxdepth 1 -name 'ses-*' -mmin +1 2>/dev/null); do ${TMUX} has-session -t "=\${d##*/}" 2>/dev/null || rm -rf "$d"; done`,
    // Private to the workspace user: a console's log holds what was typed at it.
    `split --filter=: /dev/null 2>/dev/null && (umask 077 && mkdir -p ${logDir(id)})`,
  ].join("; ");
}

/** newSessionLine, with the log when the image can keep one: tmux runs pipe-pane before it reads any of the command's output. */
export function newLoggedSessionLine(s: NewSession, g: LogGeometry = LOG_GEOMETRY): string {
  const plain = newSessionLine(s);
  // pipe-pane expands its command as a format and then with strftime: `##` and `%%` are how a `#`
  // and a `%` reach the shell (unescaped, `printf %010d` printed the day of the month).
  const writer = writerCommand(s.id, g).replaceAll("#", "##").replaceAll("%", "%%");
  return `if ${prepareLogLine(s.id)}; then ${plain} \\; pipe-pane -t ${s.id}: ${shellQuote(writer)}; else ${plain}; fi`;
}

/** Where a read starts: an absolute byte offset (and how many bytes at most), or the last `tail` lines before the log's end. */
export type LogStart = { offset: number; max?: number } | { tail: number };

/**
 * Reads the log from `start`: a line `first last lastSize tailBytes` (chunk indexes; tailBytes only
 * for a tail, else `-`), the bytes in base64 (to the end of one chunk, READ_BYTES at most), then the
 * pane's state line. `nolog` first instead: the session has no log (made by an older daemon, or an
 * image without GNU split). Exit 1 with tmux's words: the session is gone.
 */
export function readLogLine(id: string, start: LogStart, g: LogGeometry = LOG_GEOMETRY): string {
  const d = logDir(id);
  const head = [
    `st=$(${paneStateLine(id)}) || exit 1`,
    `if [ ! -d ${d} ]; then echo nolog; echo "$st"; exit 0; fi`,
    `set -- $(ls ${d})`,
    `if [ $# -eq 0 ]; then printf '0 0 0 0\\n\\n%s\\n' "$st"; exit 0; fi`,
    `first=$(expr "$1" + 0); eval "l=\\\${$#}"; last=$(expr "$l" + 0); size=$(wc -c < ${d}/$l)`,
  ];
  if ("tail" in start) {
    const n = Math.max(0, Math.floor(start.tail));
    // One line more: the last one may be unfinished (a prompt, or the exit mark after the last newline).
    const bytes = `$(cat ${d}/* 2>/dev/null | tail -n ${n + 1} | wc -c)`;
    return [...head, `printf '%s %s %s %s\\n\\n%s\\n' $first $last $size ${bytes} "$st"`].join("\n");
  }
  const offset = Math.max(0, Math.floor(start.offset));
  const max = Math.max(0, Math.min(READ_BYTES, Math.floor(start.max ?? READ_BYTES)));
  return [
    ...head,
    `o=${offset}; s=$((first * ${g.chunkBytes})); [ $o -ge $s ] || o=$s`,
    `f=${d}/${chunkName(`$((o / ${g.chunkBytes}))`)}`,
    `data=$(if [ -f $f ]; then tail -c +$((o % ${g.chunkBytes} + 1)) $f | head -c ${max} | base64 -w0; fi)`,
    `printf '%s %s %s -\\n%s\\n%s\\n' $first $last $size "$data" "$st"`,
  ].join("\n");
}

export type LogRead =
  | { kind: "nolog"; state: PaneState }
  | {
      kind: "log";
      state: PaneState;
      /** The absolute offset the bytes start at: the one asked for, or the log's oldest byte when that was removed. */
      start: number;
      /** Bytes removed from the log before the follower read them (it was more than the log behind). */
      dropped: number;
      bytes: Buffer;
      /** The offset to read from next. */
      next: number;
      /** The log's end when it was read. */
      end: number;
      /** A tail read: where the last `tail` + 1 lines start (the follower reads to `end` and keeps the last `tail` complete ones). */
      tailStart?: number;
    };

/** Parses a `readLogLine` answer; `asked` is the offset that read was given (0 for a tail). */
export function parseLogRead(stdout: string, asked: number, g: LogGeometry = LOG_GEOMETRY): LogRead {
  const chunk = g.chunkBytes;
  const rows = stdout.split("\n");
  if (rows[0] === "nolog") return { kind: "nolog", state: parseState(rows[1] ?? "") };
  const [first, last, size, tail] = (rows[0] ?? "").split(" ");
  const state = parseState(rows[2] ?? "");
  const end = Number(last) * chunk + Number(size);
  const start = Math.max(asked, Number(first) * chunk);
  const bytes = Buffer.from(rows[1] ?? "", "base64");
  // Nothing read before the end: the chunk is gone (removed between the listing and the read, or
  // lost): on from the next one, its bytes counted as dropped, rather than asking for it forever.
  const gap = bytes.length === 0 && start < end && asked < end ? Math.min(end, (Math.floor(start / chunk) + 1) * chunk) - start : 0;
  const read = { kind: "log" as const, state, start, dropped: start - asked + gap, bytes, next: start + bytes.length + gap, end };
  return tail !== undefined && tail !== "-" ? { ...read, dropped: 0, next: end, tailStart: Math.max(Number(first) * chunk, end - Number(tail)) } : read;
}

/** killLine, then the session's log goes too (tmux closed the pipe with the pane); tmux's answer is the line's. */
export function killWithLogLine(id: string): string {
  return `${killLine(id)}; r=$?; rm -rf ${logDir(id)}; exit $r`;
}
