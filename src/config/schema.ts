import * as v from "valibot";
import { parseDuration, parseSize } from "./units.ts";

// Transform first, check last: valibot drops a check's message when a transform follows it inside a union.
const Duration = v.pipe(
  v.union([v.string(), v.number()]),
  v.transform(parseDuration),
  v.check((x) => x !== undefined, "expected a duration such as 30m, 90s or 1h"),
  v.transform((x) => x!),
);
const Size = v.pipe(
  v.union([v.string(), v.number()]),
  v.transform(parseSize),
  v.check((x) => x !== undefined, "expected a size such as 512MB or 4GB"),
  v.transform((x) => x!),
);
const Port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));

export const RESOURCE_PRESETS = {
  small: { cpu: 1, memoryBytes: 2 * 1024 ** 3 },
  medium: { cpu: 2, memoryBytes: 4 * 1024 ** 3 },
  large: { cpu: 4, memoryBytes: 8 * 1024 ** 3 },
  xlarge: { cpu: 8, memoryBytes: 16 * 1024 ** 3 },
} as const;
export type ResourcePreset = keyof typeof RESOURCE_PRESETS;

export const Resources = v.union([
  v.picklist(Object.keys(RESOURCE_PRESETS) as ResourcePreset[], "expected small, medium, large, xlarge or {cpu, memory}"),
  v.strictObject({ cpu: v.pipe(v.number(), v.minValue(0.01)), memory: Size }),
]);

const WorkspaceDefinition = v.looseObject({
  path: v.optional(v.string()),
  backend: v.optional(v.picklist(["docker"])),
  image: v.optional(v.string()),
  ports: v.optional(v.array(Port)),
  env: v.optional(v.record(v.string(), v.string())),
  resources: v.optional(Resources),
});

export const ConfigSchema = v.strictObject({
  daemon: v.optional(
    v.strictObject({
      port: v.optional(Port, 8080),
      host: v.optional(v.string(), "127.0.0.1"),
    }),
    {},
  ),
  docker: v.optional(v.strictObject({ host: v.optional(v.string()) }), {}),
  defaults: v.optional(
    v.strictObject({
      backend: v.optional(v.picklist(["docker"]), "docker"),
      idle_timeout: v.optional(Duration, 1800),
      /** What idleness does to a workspace (an extension of the spec's schema). */
      idle_action: v.optional(v.picklist(["pause", "stop"]), "pause"),
      resources: v.optional(Resources, "medium"),
      image: v.optional(v.string(), "nexus-workspace:latest"),
    }),
    {},
  ),
  workspaces: v.optional(v.record(v.string(), WorkspaceDefinition), {}),
  secrets: v.optional(v.looseObject({}), {}),
  sync: v.optional(v.looseObject({}), {}),
  telemetry: v.optional(v.looseObject({ enabled: v.optional(v.boolean()) }), {}),
  ssh: v.optional(
    v.strictObject({
      injection: v.optional(
        v.strictObject({
          enabled: v.optional(v.boolean(), true),
          sources: v.optional(v.array(v.string()), ["~/.ssh/id_ed25519.pub", "~/.ssh/id_rsa.pub"]),
          include_agent_keys: v.optional(v.boolean(), true),
        }),
        {},
      ),
      port_range: v.optional(
        v.pipe(
          v.strictObject({ start: v.optional(Port, 32800), end: v.optional(Port, 34999) }),
          v.check((r) => r.start <= r.end, "start must not be above end"),
        ),
        {},
      ),
      connection: v.optional(
        v.strictObject({
          user: v.optional(v.string(), "nexus"),
          forward_agent: v.optional(v.boolean(), true),
          server_alive_interval: v.optional(v.number(), 30),
          strict_host_key_checking: v.optional(v.picklist(["yes", "no", "accept-new", "ask", "off"]), "accept-new"),
          user_known_hosts_file: v.optional(v.string(), "~/.nexus/known_hosts"),
        }),
        {},
      ),
      client_options: v.optional(v.array(v.string()), []),
    }),
    {},
  ),
  ide: v.optional(v.looseObject({}), {}),
});

export type NexusConfig = v.InferOutput<typeof ConfigSchema>;
