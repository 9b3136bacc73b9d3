import { existsSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { requireTrusted } from "./ownership.ts";
import * as v from "valibot";
import { LineCounter, parseDocument, isNode } from "yaml";
import { NexusError } from "../kernel/errors.ts";
import { specificIssue } from "../kernel/issues.ts";
import { configEnvHint, configEnvKeys, configEnvOverrides, type ConfigEnvKey, type ConfigOverride } from "./env.ts";
import { notHonouredKeys, type NotHonouredKey } from "./keys.ts";
import { ConfigSchema, type NexusConfig } from "./schema.ts";
import { formatUnknownKey, takeUnknownKeys, type UnknownKey } from "./unknown-keys.ts";
import { defaultEngineProblem } from "./engines.ts";

/** The configuration in effect, and for every key not left at its default, what set it. */
export interface EffectiveConfig {
  config: NexusConfig;
  /** Dotted key → the file's path, a NEXUS_* variable or a flag. Keys at their default are absent. */
  sources: Record<string, string>;
  /** Keys the file names that the schema does not know: left out, with a warning (config validate: an error). */
  unknownKeys: UnknownKey[];
  /** Keys set that this build parses but does not honour (config/keys.ts). */
  notHonoured: NotHonouredKey[];
}

/** Parses config text; errors name the file, the line and the key. An unknown key is an error here (config set, validate). */
export function parseConfig(text: string, file: string): NexusConfig {
  const { config, unknown } = parseConfigText(text, file);
  const first = unknown[0];
  if (first) throw invalidConfig(`${formatUnknownKey(first).replace(/ \(ignored\)$/, "")}`, file, first.line, first.key);
  return config;
}

/** The file as written (before defaults and transforms, without unknown keys), as validated, and the keys it names that the schema does not know. */
function parseConfigText(text: string, file: string): { raw: unknown; config: NexusConfig; unknown: UnknownKey[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
    throw invalidConfig(`${file}${line ? `:${line}` : ""}: ${e.message.split("\n")[0]}`, file, line);
  }
  const { unknown, known: raw } = takeUnknownKeys(ConfigSchema, doc.toJS() ?? {}, doc, lines, file);
  const result = v.safeParse(ConfigSchema, raw);
  if (result.success) {
    // defaults.engine names an engine of the same file: checked once both are read.
    const problem = defaultEngineProblem(result.output);
    if (!problem) return { raw, config: result.output, unknown };
    const node = doc.getIn(["defaults", "engine"], true);
    const line = isNode(node) && node.range ? lines.linePos(node.range[0]).line : undefined;
    throw invalidConfig(`${file}${line ? `:${line}` : ""}: defaults.engine: ${problem}`, file, line, "defaults.engine");
  }
  const issue = specificIssue(result.issues[0]);
  const path = issuePath(issue);
  const node = path.length > 0 ? doc.getIn(path, true) ?? doc.getIn(path.slice(0, -1), true) : undefined;
  const line = isNode(node) && node.range ? lines.linePos(node.range[0]).line : undefined;
  const key = path.join(".") || "(top level)";
  // valibot words a missing required key as an invalid one.
  const message = /^Invalid key: Expected ".*" but received undefined$/.test(issue.message) ? "missing (this key is required here)" : issue.message;
  throw invalidConfig(`${file}${line ? `:${line}` : ""}: ${key}: ${message}`, file, line, key);
}

/**
 * The effective configuration: defaults ← the file ← NEXUS_* variables ← flags (later wins).
 * Without env and flags it is the file's configuration.
 */
export function loadConfig(file: string, env: Record<string, string | undefined> = {}, flags: ConfigOverride[] = []): NexusConfig {
  return loadEffectiveConfig(file, env, flags).config;
}

export function loadEffectiveConfig(file: string, env: Record<string, string | undefined>, flags: ConfigOverride[] = []): EffectiveConfig {
  // Another user's (or a world-writable) home or config is never adopted (ownership.ts).
  requireTrusted([dirname(file), file]);
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const { raw, config, unknown: unknownKeys } = parseConfigText(text, file);
  const keys = configEnvKeys();
  const overrides = [...configEnvOverrides(env, keys), ...flags];
  const sources: Record<string, string> = {};
  markFileSources(raw, [], keys, file, sources);
  if (overrides.length === 0) return { config, sources, unknownKeys, notHonoured: notHonouredKeys(raw) };

  const byKey = new Map(keys.map((k) => [k.key, k]));
  const merged = structuredClone(isObject(raw) ? raw : {});
  for (const o of overrides) {
    const k = byKey.get(o.key);
    if (!k) throw new NexusError("INTERNAL_ERROR", `${o.source} names '${o.key}', which is not a scalar or list config key`);
    const one = v.safeParse(k.schema, o.value);
    if (!one.success) {
      const issue = specificIssue(one.issues[0]);
      // A type mismatch means the text could not be read as this key's type: say which texts it takes.
      const reason = (o.kind === "env" && issue.kind === "schema" && !issue.path?.length && configEnvHint(k)) || issue.message;
      throw invalidOverride([o], o.key, reason, file);
    }
    setIn(merged, k.path, o.value);
    sources[o.key] = o.source;
  }
  // Keys that are checked together (ssh.port_range: start ≤ end) are checked again with every layer in.
  const result = v.safeParse(ConfigSchema, merged);
  if (!result.success) {
    const issue = specificIssue(result.issues[0]);
    const key = issuePath(issue).join(".");
    const related = overrides.filter((o) => key === "" || o.key === key || o.key.startsWith(`${key}.`) || key.startsWith(`${o.key}.`));
    throw invalidOverride(related.length > 0 ? related : overrides, key || "(top level)", issue.message, file);
  }
  const problem = defaultEngineProblem(result.output);
  if (problem) {
    const related = overrides.filter((o) => o.key === "defaults.engine");
    throw invalidOverride(related.length > 0 ? related : overrides, "defaults.engine", problem, file);
  }
  return { config: result.output, sources, unknownKeys, notHonoured: notHonouredKeys(merged) };
}

/** Marks what the file sets: each known leaf, or the whole subtree where the schema has no fixed keys (workspaces). */
function markFileSources(raw: unknown, path: string[], keys: ConfigEnvKey[], file: string, sources: Record<string, string>): void {
  if (path.length > 0) {
    const key = path.join(".");
    const known = keys.some((k) => k.key === key);
    const hasKnownBelow = keys.some((k) => k.key.startsWith(`${key}.`));
    if (known || !hasKnownBelow || !isObject(raw)) {
      sources[key] = file;
      return;
    }
  }
  if (!isObject(raw)) return;
  for (const [k, child] of Object.entries(raw)) markFileSources(child, [...path, k], keys, file, sources);
}

function issuePath(issue: v.BaseIssue<unknown>): Array<string | number> {
  return (issue.path ?? []).map((p) => p.key as string | number);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

function setIn(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = target;
  for (const p of path.slice(0, -1)) {
    if (!isObject(cur[p])) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

function invalidConfig(message: string, file: string, line?: number, key?: string): NexusError {
  return new NexusError("INVALID_ARGUMENT", `Invalid configuration: ${message}`, {
    suggestion: `Fix ${file}${line ? ` at line ${line}` : ""}; 'nexus doctor' checks it`,
    details: { file, ...(line ? { line } : {}), ...(key ? { key } : {}) },
  });
}

/** A value from the environment or a flag that the schema refuses: names the variable (or flag) and the key. */
function invalidOverride(culprits: ConfigOverride[], key: string, reason: string, file: string): NexusError {
  const shown = culprits.map((o) => (o.kind === "env" ? `${o.source}=${o.text ?? String(o.value)}` : `${o.source} ${JSON.stringify(o.value)}`));
  const vars = culprits.filter((o) => o.kind === "env").map((o) => o.source);
  const flags = culprits.filter((o) => o.kind === "flag").map((o) => o.source);
  const alone = culprits.length === 1 && culprits[0]!.key === key;
  const fixes = [...(vars.length > 0 ? [`fix or unset ${vars.join(", ")}`] : []), ...(flags.length > 0 ? [`fix ${flags.join(", ")}`] : [])];
  const suggestion = alone ? fixes.join(", or ") : `${fixes.join(", or ")} (${culprits.map((o) => `${o.source} sets ${o.key}`).join(", ")}, checked together with ${file})`;
  return new NexusError("INVALID_ARGUMENT", `Invalid configuration: ${shown.join(", ")}: ${key}: ${reason}${alone ? "" : " (with the rest of the configuration)"}`, {
    suggestion: suggestion[0]!.toUpperCase() + suggestion.slice(1),
    details: {
      key,
      ...(vars.length > 0 ? { variable: vars.join(", ") } : {}),
      ...(flags.length > 0 ? { flag: flags.join(", ") } : {}),
    },
  });
}

/** One line per unknown key and per key set but not honoured: the daemon logs them once at start. */
export function configNotices(e: Pick<EffectiveConfig, "unknownKeys" | "notHonoured">): string[] {
  return [
    ...e.unknownKeys.map((u) => `config: ${formatUnknownKey(u)}`),
    ...e.notHonoured.map((k) => `config: ${k.key} is set but not honoured: ${k.why}`),
  ];
}
