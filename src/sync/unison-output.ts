// What one `unison -batch` run said: the items it reconciled (conflicts are items changed on both
// sides), what it propagated, skipped and failed, and its summary line. Unison 2.52's text UI.

export interface UnisonItem {
  path: string;
  /** The host's (first root's) change, "" when it did not change: changed, new file, new dir, deleted, props... */
  left: string;
  right: string;
  /** ---->, <----, <-?-> (not decided), ====> / <==== (decided by -prefer / -force), <-M-> ... */
  arrow: string;
}

export interface UnisonConflict {
  path: string;
  type: string;
  alphaState: string;
  betaState: string;
  /** Which root's version stays: left (host), right (workspace), or null when unison skipped it. */
  winner: "left" | "right" | null;
}

export interface UnisonRun {
  items: UnisonItem[];
  conflicts: UnisonConflict[];
  /** Paths copied or updated, and which way. */
  propagated: Array<{ path: string; from: string; to: string }>;
  skipped: string[];
  failed: Array<{ path: string; reason: string }>;
  transferred: number;
  /** "Fatal error: ..." — the run did nothing. */
  fatal: string | null;
  /** Nothing changed on either side. */
  nothingToDo: boolean;
}

// An item line: the left state in 8 columns, the arrow, the right state in 10, the path.
const ITEM = /^(.{8}) ([<\-=][-=?M<>]{3}[\->=]) (.{10}) (.+?)\s*$/;
const STATES: Record<string, string> = { changed: "modified", props: "modified", "new file": "created", "new dir": "created", "new link": "created", deleted: "deleted", file: "created", dir: "created", link: "created" };

function state(s: string): string {
  return STATES[s] ?? (s.startsWith("new") ? "created" : s === "" ? "unchanged" : "modified");
}

function conflictType(a: string, b: string): string {
  const word = (s: string) => (s === "deleted" ? "delete" : s === "created" ? "create" : "edit");
  return `${word(a)}-${word(b)}`;
}

export function parseUnisonOutput(text: string): UnisonRun {
  const run: UnisonRun = { items: [], conflicts: [], propagated: [], skipped: [], failed: [], transferred: 0, fatal: null, nothingToDo: false };
  // Progress lines are redrawn with \r: only the text after the last one counts.
  const lines = text.split("\n").map((l) => l.slice(l.lastIndexOf("\r") + 1));
  for (const line of lines) {
    const item = ITEM.exec(line);
    if (item && !line.startsWith(" ".repeat(20))) {
      const left = item[1]!.trim();
      const right = item[3]!.trim();
      const arrow = item[2]!;
      const path = unquote(item[4]!);
      run.items.push({ path, left, right, arrow });
      if (left !== "" && right !== "") {
        const alphaState = state(left);
        const betaState = state(right);
        const winner = arrow.includes("?") ? null : arrow.endsWith(">") ? "left" : arrow.startsWith("<") ? "right" : null;
        run.conflicts.push({ path, type: conflictType(alphaState, betaState), alphaState, betaState, winner });
      }
      continue;
    }
    let m = /^\[BGN\] (?:Copying|Updating file|Deleting|Copying properties for) (.+) from (.+) to (.+)$/.exec(line);
    if (m) {
      run.propagated.push({ path: unquote(m[1]!), from: m[2]!, to: m[3]! });
      continue;
    }
    m = /^\s*skipped: (.+?)(?: \((.*)\))?$/.exec(line);
    if (m) {
      run.skipped.push(unquote(m[1]!));
      continue;
    }
    m = /^\s*failed: (.+?)(?: \((.*)\))?$/.exec(line);
    if (m) {
      run.failed.push({ path: unquote(m[1]!), reason: m[2] ?? "" });
      continue;
    }
    m = /^Synchronization (?:complete|incomplete) at .*\((\d+) items? transferred/.exec(line);
    if (m) run.transferred = Number(m[1]);
    if (/^Nothing to do:/.test(line)) run.nothingToDo = true;
    m = /^Fatal error: (.*)$/.exec(line);
    if (m && run.fatal === null) run.fatal = m[1]!.trim();
  }
  return run;
}

/** Unison quotes paths with spaces or odd characters in some messages. */
function unquote(p: string): string {
  const t = p.trim();
  return t.length >= 2 && t.startsWith("'") && t.endsWith("'") ? t.slice(1, -1) : t;
}
