// The shell side of the fast route's reads and writes inside (inside-files.ts's ShellInside, for an
// image without python3; and the format both agents answer in): POSIX sh and GNU coreutils.
import { createHash } from "node:crypto";
import { FAST_MAX_BYTES, type FileState } from "./fast-decide.ts";

/** A compare-and-swap write inside: `content` goes to `path` only if it still is `expect` (md5 hex, or "absent"). */
export interface InsideWrite {
  path: string;
  expect: string;
  content: Buffer;
  mode: number;
  /** Seconds since the epoch with up to 9 decimals. */
  mtime: string;
}

const md5 = (b: Buffer) => createHash("md5").update(b).digest("hex");
const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The script that reads the paths inside: one line each (F size mode mtime :base64 | B | A | N | O). */
export function readScript(root: string, paths: readonly string[]): string {
  return [
    `cd -- ${shq(root)} 2>/dev/null || exit 0`,
    `for p in ${paths.map(shq).join(" ")}; do`,
    `  if [ -L "$p" ]; then echo O`,
    `  elif [ -f "$p" ]; then`,
    `    m=$(stat -c '%s %a %.9Y' -- "$p" 2>/dev/null) || { echo O; continue; }`,
    `    if [ "\${m%% *}" -gt ${FAST_MAX_BYTES} ]; then echo B; continue; fi`,
    `    c=$(base64 -w0 < "$p") || { echo O; continue; }`,
    `    echo "F $m :$c"`,
    `  elif [ -e "$p" ]; then echo O`,
    `  elif [ -d "$(dirname -- "$p")" ]; then echo A`,
    `  else echo N; fi`,
    `done`,
  ].join("\n");
}

/** One line of readScript's answer. */
export function parseState(line: string): FileState {
  if (line === "A") return { kind: "absent", parent: true };
  if (line === "N") return { kind: "absent", parent: false };
  if (line === "B") return { kind: "big" };
  const m = /^F (\d+) ([0-7]+) (\d+(?:\.\d+)?) :([A-Za-z0-9+/=]*)$/.exec(line);
  if (!m) return { kind: "other" };
  const content = Buffer.from(m[4]!, "base64");
  return { kind: "file", hash: md5(content), size: content.length, mode: parseInt(m[2]!, 8), mtime: m[3]!, content };
}

/** The script that writes files inside, each only if its path still is `expect` (md5 or "absent"): ok | skip | fail per line. */
export function writeScript(root: string, writes: readonly InsideWrite[]): string {
  const lines = [
    `cd -- ${shq(root)} 2>/dev/null || exit 0`,
    "w() {",
    `  if [ -L "$1" ]; then c=O; elif [ -f "$1" ]; then c=$(md5sum < "$1") || c=O; c=\${c%% *}; elif [ -e "$1" ]; then c=O; else c=absent; fi`,
    `  if [ "$c" != "$2" ]; then cat >/dev/null; echo skip; return; fi`,
    // unison's own temporary-file name: the watchers leave it out, and unison ignores one left by a crash.
    `  t="$(dirname -- "$1")/.unison.nexus.$$.$5.unison.tmp"`,
    `  if base64 -d > "$t" && chmod "$3" "$t" && touch -m -d "@$4" "$t" && mv -f "$t" "$1"; then echo ok; else rm -f "$t"; echo fail; fi`,
    "}",
  ];
  writes.forEach((w, i) => lines.push(`printf %s ${w.content.length ? w.content.toString("base64") : "''"} | w ${shq(w.path)} ${w.expect} ${(w.mode & 0o7777).toString(8)} ${w.mtime} ${i}`));
  return lines.join("\n");
}
