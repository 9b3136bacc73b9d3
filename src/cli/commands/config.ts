// `nexus config [get <key> | set <key> <value> | validate]`: the effective configuration (defaults ←
// config.yaml ← NEXUS_* variables), one value of it, a validated change written back with comments
// kept, or a check of the file where unknown keys are errors.
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { Document, isCollection, isMap, isScalar, parse as parseYaml, parseDocument, stringify } from "yaml";
import { configEnvKeys } from "../../config/env.ts";
import { loadEffectiveConfig, parseConfig, type EffectiveConfig } from "../../config/load.ts";
import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import { writeFileAtomic } from "../../store/atomic.ts";
import type { CliContext } from "../context.ts";
import { formatUnknownKey } from "../../config/unknown-keys.ts";
import { writeErr, writeOut } from "../output.ts";

const RESTART_NOTE = "A running daemon read the config when it started: 'nexus daemon stop' makes it pick this up (the next command starts it again).";

function readText(file: string): string {
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** A dotted key as a path; numeric parts index lists (ssh.injection.sources.0). */
function keyPath(key: string): Array<string | number> {
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(key)) {
    throw new NexusError("INVALID_ARGUMENT", `'${key}' is not a config key`, { suggestion: "Keys are dotted paths such as defaults.image or ssh.port_range.start; 'nexus config' shows them all" });
  }
  return key.split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function lookup(value: unknown, path: Array<string | number>): { found: boolean; value: unknown } {
  let cur: unknown = value;
  for (const p of path) {
    if (cur === null || typeof cur !== "object" || !(p in (cur as Record<string, unknown>))) return { found: false, value: undefined };
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return { found: true, value: cur };
}

/** The effective configuration as YAML, each value that is not a default followed by what set it. */
function annotatedYaml(effective: EffectiveConfig, file: string): string {
  const doc = new Document(effective.config);
  for (const [key, source] of Object.entries(effective.sources)) {
    const path = key.split(".");
    const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
    if (!isMap(parent)) continue;
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
    if (!pair || !isScalar(pair.key)) continue;
    const note = ` from ${source === file ? basename(file) : source}`;
    // A scalar takes the note on its own line; a list or map takes it on its key's line.
    if (isScalar(pair.value)) pair.value.comment = note;
    else if (isCollection(pair.value)) pair.key.comment = note;
  }
  // daemon.port's default is not in force: TCP is opt-in (src/daemon/daemon.ts), nothing listens on it.
  if (!effective.sources["daemon.port"]) {
    const port = doc.getIn(["daemon", "port"], true);
    if (isScalar(port)) port.comment = " not in force: TCP is off unless daemon.port is set (config.yaml, NEXUS_DAEMON_PORT) or 'nexus daemon --port N' runs";
  }
  return doc.toString();
}

/** Unknown keys and keys this build does not honour, on stderr: the effective configuration on stdout stays clean. */
async function warnAbout(effective: EffectiveConfig): Promise<void> {
  const lines = [
    ...effective.unknownKeys.map((u) => `warning: ${formatUnknownKey(u)}`),
    ...effective.notHonoured.map((k) => `note: ${k.key} is set but not honoured: ${k.why}`),
  ];
  if (lines.length > 0) await writeErr(lines.join("\n") + "\n");
}

/** `nexus config validate`: what load only warns about (unknown keys) is an error here; keys not honoured are listed. */
async function validate(ctx: CliContext, file: string, env: Record<string, string | undefined>): Promise<number> {
  const effective = loadEffectiveConfig(file, env);
  const { unknownKeys, notHonoured } = effective;
  if (unknownKeys.length > 0) {
    throw new NexusError("INVALID_ARGUMENT", `Invalid configuration: ${unknownKeys.map((u) => formatUnknownKey(u).replace(/ \(ignored\)$/, "")).join("; ")}`, {
      suggestion: `Remove or correct ${unknownKeys.length === 1 ? "this key" : "these keys"} in ${file}; the README's configuration reference lists every key`,
      details: { file, unknownKeys: unknownKeys.map((u) => ({ key: u.key, ...(u.line ? { line: u.line } : {}) })), ...(unknownKeys[0]!.line ? { line: unknownKeys[0]!.line } : {}), key: unknownKeys[0]!.key },
    });
  }
  if (ctx.json) await writeOut(JSON.stringify({ valid: true, file, notHonoured }) + "\n");
  else {
    let text = `${file}${existsSync(file) ? "" : " (not present: defaults apply)"} is valid\n`;
    for (const k of notHonoured) text += `note: ${k.key} is set but not honoured: ${k.why}\n`;
    await writeOut(text);
  }
  return EXIT_CODES.ok;
}

export async function configCommand(
  ctx: CliContext,
  action: string | undefined,
  key: string | undefined,
  value: string | undefined,
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  const file = ctx.paths.config;
  switch (action) {
    case undefined:
    case "show": {
      const effective = loadEffectiveConfig(file, env);
      await warnAbout(effective);
      if (ctx.json) await writeOut(JSON.stringify(effective.config, null, 2) + "\n");
      else {
        const header =
          `# Effective configuration: defaults ← ${file}${existsSync(file) ? "" : " (not present)"} ← NEXUS_* environment variables.\n` +
          "# Durations are in seconds and sizes in bytes; '# from' says what set a value that is not a default.\n";
        await writeOut(header + annotatedYaml(effective, file));
      }
      return EXIT_CODES.ok;
    }
    case "get": {
      if (!key) throw new NexusError("INVALID_ARGUMENT", "Which key?", { suggestion: "nexus config get defaults.image" });
      const effective = loadEffectiveConfig(file, env);
      await warnAbout(effective);
      const found = lookup(effective.config, keyPath(key));
      if (!found.found) {
        throw new NexusError("NOT_FOUND", `No config key '${key}'`, { suggestion: "'nexus config' shows every key", details: { key } });
      }
      if (ctx.json) await writeOut(JSON.stringify({ key, value: found.value }) + "\n");
      else await writeOut(typeof found.value === "object" && found.value !== null ? stringify(found.value) : `${String(found.value)}\n`);
      return EXIT_CODES.ok;
    }
    case "set": {
      if (!key || value === undefined) throw new NexusError("INVALID_ARGUMENT", "'nexus config set' needs a key and a value", { suggestion: "nexus config set defaults.idle_timeout 45m" });
      const path = keyPath(key);
      // The value is read as YAML, so 8080 is a number, true a boolean and [3000, 5173] a list.
      let parsed: unknown;
      try {
        parsed = parseYaml(value);
      } catch {
        parsed = value;
      }
      const doc = parseDocument(readText(file));
      if (doc.errors.length > 0) parseConfig(readText(file), file); // throws, naming the line
      if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
      doc.setIn(path, parsed);
      const text = doc.toString();
      try {
        parseConfig(text, file);
      } catch (err) {
        const e = err as NexusError;
        const reason = e.message.replace(/^Invalid configuration: [^:]*(:\d+)?: /, "");
        throw new NexusError("INVALID_ARGUMENT", `Refused: ${key} = ${value}: ${reason}`, {
          suggestion: `Nothing was written to ${file}; 'nexus config' shows the keys and their current values`,
          details: { key, value },
        });
      }
      writeFileAtomic(file, text, 0o600);
      // The file is written either way, but a variable of this environment still wins over it.
      const shadow = configEnvKeys().filter((k) => (k.key === key || k.key.startsWith(`${key}.`)) && env[k.variable]);
      const note = shadow.length > 0 ? `${RESTART_NOTE} ${shadow.map((k) => k.variable).join(", ")} in this environment overrides the file.` : RESTART_NOTE;
      if (ctx.json) await writeOut(JSON.stringify({ key, value: parsed, file, note }) + "\n");
      else await writeOut(`Set ${key} = ${JSON.stringify(parsed)} in ${file}\n${note}\n`);
      return EXIT_CODES.ok;
    }
    case "validate":
      return validate(ctx, file, env);
    default:
      throw new NexusError("INVALID_ARGUMENT", `Unknown config action '${action}'`, { suggestion: "Use 'nexus config', 'nexus config get <key>', 'nexus config set <key> <value>' or 'nexus config validate'" });
  }
}
