// The config's `sync:` block (spec §3.5): parsed with valibot (messages name the key), defaults
// filled in, and turned into what a provider needs.
import * as v from "valibot";
import { parseDuration } from "../config/units.ts";

export const SYNC_MODES = ["two-way-safe", "two-way-resolved", "one-way-safe", "one-way-replica"] as const;
export type SyncMode = (typeof SYNC_MODES)[number];
/**
 * Which version stays at a conflicting path; the other is kept beside it as a copy (never lost).
 * `manual`: neither is chosen, both sides keep their own until `nexus sync resolve`.
 */
export const CONFLICT_STRATEGIES = ["host-wins", "workspace-wins", "newer-wins", "manual"] as const;
export type ConflictStrategy = (typeof CONFLICT_STRATEGIES)[number];
export const SYNC_PROVIDERS = ["auto", "mutagen", "unison"] as const;
export const WATCH_MODES = ["auto", "poll"] as const;

// Checked, not converted: the config keeps the file's text, so parsing its output again gives the same value.
const Interval = v.pipe(
  v.union([v.string(), v.number()], "expected a duration such as 500ms or 2s"),
  v.check((x) => (parseDuration(x) ?? 0) > 0, "expected a duration above zero such as 500ms or 2s"),
);

const picklist = <T extends readonly string[]>(values: T) => v.picklist(values, `expected one of ${values.join(", ")}`);

/** The `sync:` block as the config file writes it; keys the spec names and nothing else. */
export const SyncConfigSchema = v.optional(
  v.looseObject({
    provider: v.optional(picklist(SYNC_PROVIDERS), "auto"),
    mode: v.optional(picklist(SYNC_MODES), "two-way-safe"),
    exclude: v.optional(v.array(v.pipe(v.string("expected a path or a pattern"), v.minLength(1, "expected a non-empty pattern"))), ["node_modules", ".git", "build", "dist", "*.log", ".DS_Store"]),
    conflict: v.optional(v.looseObject({ strategy: v.optional(picklist(CONFLICT_STRATEGIES), "host-wins") }), {}),
    watch: v.optional(v.looseObject({ mode: v.optional(picklist(WATCH_MODES), "auto"), pollingInterval: v.optional(Interval, "500ms") }), {}),
    // Mutagen's own knobs: passed to mutagen, not used by unison.
    performance: v.optional(v.looseObject({ maxEntryCount: v.optional(v.number()), maxStagingSize: v.optional(v.union([v.string(), v.number()])) }), {}),
    deployment: v.optional(v.string()),
  }),
  {},
);

/** What a provider works from: every default filled in, intervals in milliseconds. */
export interface SyncConfig {
  provider: (typeof SYNC_PROVIDERS)[number];
  mode: SyncMode;
  exclude: string[];
  strategy: ConflictStrategy;
  watchMode: (typeof WATCH_MODES)[number];
  pollingIntervalMs: number;
  maxEntryCount?: number;
}

export function syncConfigFrom(raw: unknown): SyncConfig {
  const parsed = v.parse(SyncConfigSchema, raw ?? {});
  const c: SyncConfig = {
    provider: parsed.provider,
    mode: parsed.mode,
    exclude: parsed.exclude,
    strategy: parsed.conflict.strategy,
    watchMode: parsed.watch.mode,
    pollingIntervalMs: Math.round(parseDuration(parsed.watch.pollingInterval)! * 1000),
  };
  if (parsed.performance.maxEntryCount !== undefined) c.maxEntryCount = parsed.performance.maxEntryCount;
  return c;
}

export const DEFAULT_SYNC_CONFIG: SyncConfig = syncConfigFrom({});

/**
 * An exclude pattern as unison's -ignore takes it: a bare name (`node_modules`, `*.log`) matches at
 * any depth (`Name`), a pattern with a slash matches from the root (`Path`).
 */
export function unisonIgnore(pattern: string): string {
  const p = pattern.replace(/^\/+|\/+$/g, "");
  return p.includes("/") ? `Path ${p}` : `Name ${p}`;
}

/** An exclude pattern as a regular expression over a path relative to the root (the watchers' filter). */
export function excludeRegex(patterns: readonly string[]): RegExp | undefined {
  if (patterns.length === 0) return undefined;
  const glob = (s: string) => s.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]");
  const parts = patterns.map((raw) => {
    const p = raw.replace(/^\/+|\/+$/g, "");
    return p.includes("/") ? `^${glob(p)}(/|$)` : `(^|/)${glob(p)}(/|$)`;
  });
  return new RegExp(parts.join("|"));
}
