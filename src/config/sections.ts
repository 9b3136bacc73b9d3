// The schemas of config.yaml's `secrets`, `sync` and `telemetry` sections (`ide` is core/ide's, in schema.ts) (spec §3.5): each is
// checked like the rest of the file, so a wrong value is refused and an unknown key is reported.
// Whether a key is honoured is config/keys.ts's business, not the schema's.
import * as v from "valibot";
import { parseDuration, parseSize } from "./units.ts";
// The values file sync (src/sync/) knows.
import { CONFLICT_STRATEGIES, SYNC_PROVIDERS, WATCH_MODES } from "../sync/config.ts";

const NonEmptyString = (expected: string) => v.pipe(v.string(expected), v.check((s) => s.trim() !== "", expected));

/** A secret's name is the environment variable it becomes. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const NamedSecret = v.variant(
  "source",
  [
    v.strictObject({ source: v.literal("file"), path: NonEmptyString("expected the path of a file on this machine") }),
    v.strictObject({
      source: v.literal("keychain"),
      service: NonEmptyString("expected the keychain item's service"),
      account: NonEmptyString("expected the keychain item's account"),
    }),
    v.strictObject({ source: v.literal("command"), command: NonEmptyString("expected a shell command such as 'pass show npm'") }),
  ],
  "expected source: file (with path), keychain (with service and account) or command (with command)",
);
export type NamedSecret = v.InferOutput<typeof NamedSecret>;

export const Secrets = v.strictObject({
  ssh: v.optional(v.strictObject({ mode: v.optional(v.picklist(["agent", "mount", "auto"], "expected agent, mount or auto"), "agent") }), {}),
  env_files: v.optional(v.array(NonEmptyString("expected the path of a dotenv file"), "expected a list of dotenv files"), []),
  named: v.optional(
    v.record(v.pipe(v.string(), v.regex(SECRET_NAME, "expected an environment variable name (letters, digits and _, not starting with a digit)")), NamedSecret),
    {},
  ),
});
export type SecretsConfig = v.InferOutput<typeof Secrets>;

// As schema.ts's (which imports this file, so they cannot be imported from it).
const Duration = v.pipe(
  v.union([v.string(), v.number()]),
  v.transform(parseDuration),
  v.check((x) => x !== undefined, "expected a duration such as 500ms, 30s or 5m"),
  v.transform((x) => x!),
);
const Size = v.pipe(
  v.union([v.string(), v.number()]),
  v.transform(parseSize),
  v.check((x) => x !== undefined, "expected a size such as 512MB or 10GB"),
  v.transform((x) => x!),
);

export const Sync = v.strictObject({
  provider: v.optional(v.picklist(SYNC_PROVIDERS, `expected ${SYNC_PROVIDERS.join(", ")}`)),
  mode: v.optional(v.picklist(["two-way-safe", "two-way-resolved", "one-way-safe", "one-way-replica"], "expected two-way-safe, two-way-resolved, one-way-safe or one-way-replica")),
  exclude: v.optional(v.array(v.string("expected a path or pattern"), "expected a list of paths or patterns")),
  conflict: v.optional(v.strictObject({ strategy: v.optional(v.picklist(CONFLICT_STRATEGIES, `expected ${CONFLICT_STRATEGIES.join(", ")}`)) })),
  watch: v.optional(v.strictObject({ mode: v.optional(v.picklist(WATCH_MODES, `expected ${WATCH_MODES.join(", ")}`)), pollingInterval: v.optional(v.pipe(Duration, v.check((x) => x > 0, "expected a duration above zero such as 500ms"))) })),
  performance: v.optional(
    v.strictObject({
      maxEntryCount: v.optional(v.pipe(v.number("expected a whole number"), v.integer("expected a whole number"), v.minValue(1, "expected at least 1"))),
      maxStagingSize: v.optional(Size),
    }),
  ),
  deployment: v.optional(NonEmptyString("expected a deployment such as hybrid")),
});

export const Telemetry = v.strictObject({
  enabled: v.optional(v.boolean("expected true or false")),
  endpoint: v.optional(v.pipe(v.string("expected an http(s) URL"), v.regex(/^https?:\/\/\S+$/, "expected an http(s) URL"))),
});
