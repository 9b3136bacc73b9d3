// Which way a path the watchers named can go without a unison pass (pure: unit-tested). The rule
// keeps unison's conflict safety: a file is copied over the other side only when that other side is
// still what both sides last agreed on (its content hash, or absent for a new file) — checked again
// at the moment of the write (compare-and-swap) — so a change made on both sides is never decided
// here: it goes to unison, whose -copyonconflict keeps both versions.
import type { SyncConfig } from "./config.ts";
import type { SyncSide } from "./types.ts";

/** Bigger files go to unison (its rsync-like transfer, and no large base64 through a shell). */
export const FAST_MAX_BYTES = 256 * 1024;

/** One side's view of a path: a regular file (md5 of its content), absent (its folder there or not), or something else. */
export type FileState =
  | { kind: "file"; hash: string; size: number; mode: number; mtime: string; content?: Buffer }
  | { kind: "absent"; parent: boolean }
  | { kind: "big" }
  | { kind: "other" };

export type Decision =
  /** Both sides hold the same content (or neither has the path): nothing to copy. */
  | { action: "same"; hash: string | null }
  /** Copy `from`'s file over the other side, if that side still is `expect` (md5 hash, or "absent"). */
  | { action: "copy"; from: SyncSide; expect: string }
  /** Anything else: a unison pass decides (deletions, folders, links, big files, a change on both sides). */
  | { action: "unison" };

export interface DecideInput {
  path: string;
  host: FileState;
  workspace: FileState;
  /** The content hash both sides last agreed on (after a copy or a check here); undefined: not known. */
  agreed: string | null | undefined;
  /** Which watchers named the path since the last pass. */
  namedBy: ReadonlySet<SyncSide>;
  config: Pick<SyncConfig, "mode" | "strategy">;
}

/** A path the fast route may touch: relative, no `..`, no `.git`, nothing a shell line or unison's temp names could trip on. */
export function fastPathOk(path: string): boolean {
  if (!path || path.startsWith("/") || /[\n\r\0]/.test(path)) return false;
  return path.split("/").every((seg) => seg !== "" && seg !== "." && seg !== ".." && seg !== ".git" && !seg.startsWith(".unison."));
}

const stateHash = (s: FileState): string | null | undefined => (s.kind === "file" ? s.hash : s.kind === "absent" ? null : undefined);

export function decide(i: DecideInput): Decision {
  const { host, workspace: ws, agreed, config } = i;
  if (!fastPathOk(i.path)) return { action: "unison" };
  const h = stateHash(host);
  const w = stateHash(ws);
  // A folder, a link, a file too big: unison's business.
  if (h === undefined || w === undefined) return { action: "unison" };
  if (h === w) return { action: "same", hash: h };
  const twoWay = config.mode === "two-way-safe" || config.mode === "two-way-resolved";
  const copy = (from: SyncSide): Decision => {
    const src = from === "host" ? host : ws;
    const dst = from === "host" ? ws : host;
    // Deletions go to unison (so an edit-delete conflict is its to list); so does a file whose folder is missing on the other side.
    if (src.kind !== "file" || (dst.kind === "absent" && !dst.parent)) return { action: "unison" };
    if (from === "workspace" && !twoWay) return { action: "unison" };
    return { action: "copy", from, expect: dst.kind === "file" ? dst.hash : "absent" };
  };
  if (agreed !== undefined) {
    // One side still holds what both agreed on: the other side's change is the only one.
    if (w === agreed) return copy("host");
    if (h === agreed) return copy("workspace");
    return { action: "unison" };
  }
  // Nothing agreed on record: only a new file, named by its own side's watcher alone, absent on the
  // other side. (An unseen deletion of a file unison knew would otherwise be listed as an edit-delete
  // conflict: with `manual` that stays unison's to list; with host-wins the edit wins either way.)
  if (config.strategy === "manual" || i.namedBy.size !== 1) return { action: "unison" };
  const only = [...i.namedBy][0]!;
  if (only === "host" && w === null && config.strategy === "host-wins") return copy("host");
  if (only === "workspace" && h === null) return copy("workspace");
  return { action: "unison" };
}
