// NEXUS_* environment variables as a layer of the configuration: one variable per scalar or list
// key of the schema, named after the key's path (ssh.port_range.start → NEXUS_SSH_PORT_RANGE_START).
import type * as v from "valibot";
import { ConfigSchema } from "./schema.ts";

/** NEXUS_* variables that mean something else; no config key may ever map to one of them. */
export const NON_CONFIG_VARIABLES = [
  "NEXUS_HOME", "NEXUS_URL", "NEXUS_TOKEN", "NEXUS_VERSION", "NEXUS_DOWNLOAD_URL", "NEXUS_INSTALL_DIR",
  "NEXUS_TEST_ROOT", "NEXUS_BASE_IMAGE", "NEXUS_COMMIT", "NEXUS_BUILD_DATE", "NEXUS_UID", "NEXUS_GID",
  "NEXUS_WORKSPACE", "NEXUS_DEBIAN_SUITE", "NEXUS_DOCKERD_LOG", "NEXUS_SKIP_BASE_IMAGE",
  "NEXUS_TRACE", "NEXUS_E2E_RUNTIME", "NEXUS_RELEASES_URL",
] as const;

/** One config key that an environment variable can set. */
export interface ConfigEnvKey {
  /** Dotted path, as `nexus config get` takes it. */
  key: string;
  path: readonly string[];
  variable: string;
  /** Validates (and transforms) one value of this key. */
  schema: v.GenericSchema;
}

/** A value that a layer above the file sets: an environment variable or a command-line flag. */
export interface ConfigOverride {
  key: string;
  value: unknown;
  /** What set it, as the user wrote it: `NEXUS_DAEMON_PORT` or `--port`. */
  source: string;
  kind: "env" | "flag";
  /** The variable's text as given, for messages. */
  text?: string;
}

/** The shape of valibot's schema objects that the walk below reads. */
interface SchemaNode {
  type: string;
  wrapped?: SchemaNode;
  entries?: Record<string, SchemaNode>;
  item?: SchemaNode;
}

export function configEnvVariable(path: readonly string[]): string {
  return `NEXUS_${path.join("_").replace(/-/g, "_").toUpperCase()}`;
}

/** Every key of the schema that takes a scalar or a list (objects are walked, not mapped). */
export function configEnvKeys(schema: v.GenericSchema = ConfigSchema): ConfigEnvKey[] {
  const out: ConfigEnvKey[] = [];
  const walk = (node: SchemaNode, path: string[]) => {
    const s = unwrap(node);
    // Keys the user names (workspaces.<name>) have no fixed variable; they stay in the file.
    if (s.type === "record") return;
    if (s.entries) {
      for (const [k, child] of Object.entries(s.entries)) walk(child, [...path, k]);
      return;
    }
    if (path.length > 0) out.push({ key: path.join("."), path, variable: configEnvVariable(path), schema: s as unknown as v.GenericSchema });
  };
  walk(schema as unknown as SchemaNode, []);
  return out;
}

/** The config values the environment sets; unknown NEXUS_* names and empty variables are ignored. */
export function configEnvOverrides(env: Record<string, string | undefined>, keys: ConfigEnvKey[] = configEnvKeys()): ConfigOverride[] {
  return keys.flatMap((k) => {
    const text = env[k.variable];
    if (text === undefined || text === "") return [];
    return [{ key: k.key, value: valueFromText(k.schema as unknown as SchemaNode, text), source: k.variable, kind: "env" as const, text }];
  });
}

const BOOLEANS: Record<string, boolean> = { true: true, false: false, yes: true, no: false, on: true, off: false, "1": true, "0": false };

/**
 * A variable's text as the value its key expects: booleans and numbers are read as such, lists are
 * comma-separated or JSON, an object (resources: {cpu, memory}) is JSON. What cannot be read stays
 * text, so the schema's own message says what was expected.
 */
export function valueFromText(node: SchemaNode, text: string): unknown {
  const s = unwrap(node);
  const t = text.trim();
  switch (s.type) {
    case "boolean":
      return BOOLEANS[t.toLowerCase()] ?? text;
    case "number":
      return /^[+-]?(\d+\.?\d*|\.\d+)$/.test(t) ? Number(t) : text;
    case "array": {
      const items: unknown = t.startsWith("[") ? json(t) : t.split(",").map((x) => x.trim()).filter((x) => x !== "");
      return Array.isArray(items) ? items.map((i) => (typeof i === "string" && s.item ? valueFromText(s.item, i) : i)) : items;
    }
    default:
      return t.startsWith("{") || t.startsWith("[") ? json(t) : text;
  }
}

/** What a variable of this key may hold, where the schema's own message speaks of types, not of text. */
export function configEnvHint(key: ConfigEnvKey): string | undefined {
  const type = unwrap(key.schema as unknown as SchemaNode).type;
  if (type === "boolean") return "expected true or false (or yes/no, on/off, 1/0)";
  if (type === "array") return "expected a comma-separated list or a JSON array";
  return undefined;
}

function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // not JSON after all: the schema refuses the text and says what it expected
  }
}

function unwrap(node: SchemaNode): SchemaNode {
  return node.type === "optional" && node.wrapped ? unwrap(node.wrapped) : node;
}
