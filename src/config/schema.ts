import * as v from "valibot";
import { parseDuration, parseSize } from "./units.ts";
import { Secrets, Sync, Telemetry } from "./sections.ts";
import { Engines } from "./engines.ts";

// Transform first, check last: valibot drops a check's message when a transform follows it inside a union.
export const Duration = v.pipe(
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
export const Port = v.pipe(
  v.number("expected a port number"),
  v.integer("expected a port number"),
  v.minValue(1, "expected a port from 1 to 65535"),
  v.maxValue(65535, "expected a port from 1 to 65535"),
);
/** The IDEs `nexus open` knows how to start on a workspace (core/ide/launch.ts). */
export const IDE_NAMES = ["vscode", "vscode-insiders", "cursor", "windsurf", "zed", "jetbrains"] as const;
export type IdeName = (typeof IDE_NAMES)[number];
/** A marketplace extension id: publisher.name. */
const EXTENSION_ID = /^[A-Za-z0-9][A-Za-z0-9-]*\.[A-Za-z0-9][A-Za-z0-9_-]*$/;
const PositiveDuration = v.pipe(Duration, v.check((x) => x > 0, "expected a duration above zero, such as 30s or 5m"));
const NonEmptyString = v.pipe(v.string("expected a string"), v.check((s) => s.trim() !== "", "expected a non-empty string"));

/** Environment variables: names as a shell takes them; YAML's numbers and booleans become their text. */
export const Env = v.record(
  v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name (letters, digits and _, not starting with a digit)")),
  v.pipe(v.union([v.string("expected a string"), v.number(), v.boolean()]), v.transform(String)),
);

// The shapes below are shared by `.nexus/workspace.yaml` and the user config's `workspaces.<name>`.
// They keep the file's key names and only normalise units, so parsing their output again gives the same value.

// The last four are devcontainer.json's lifecycle commands (onCreateCommand, updateContentCommand,
// postCreateCommand, postAttachCommand); workspace.yaml may set them too (an extension of the spec's five).
export const HOOK_NAMES = ["pre-start", "post-start", "pre-stop", "post-stop", "health-check", "on-create", "update-content", "post-create", "post-attach"] as const;
export type HookName = (typeof HOOK_NAMES)[number];

// A union reports its first branch's message when no branch got further (kernel/issues.ts), so the
// first branch's type message says what the whole union expects.
const shellCommand = (expected: string) =>
  v.pipe(v.string(expected), v.check((s) => s.trim() !== "", "expected a non-empty shell command"));
const ShellCommand = shellCommand("expected a shell command");
const HookStepEntry = v.union(
  [
    shellCommand("expected a shell command or {name, command, timeout, env}"),
    v.strictObject({
      name: v.optional(NonEmptyString),
      command: ShellCommand,
      timeout: v.optional(PositiveDuration),
      env: v.optional(Env),
    }),
  ],
  "expected a shell command or {name, command, timeout, env}",
);
export const Hook = v.union([shellCommand("expected a shell command or a list of them"), v.array(HookStepEntry)]);
export const Hooks = v.strictObject({
  "pre-start": v.optional(Hook),
  "post-start": v.optional(Hook),
  "pre-stop": v.optional(Hook),
  "post-stop": v.optional(Hook),
  "health-check": v.optional(Hook),
  "on-create": v.optional(Hook),
  "update-content": v.optional(Hook),
  "post-create": v.optional(Hook),
  "post-attach": v.optional(Hook),
});

export const SERVICE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const ServiceName = v.pipe(
  v.string("expected a service name"),
  v.regex(SERVICE_NAME, "expected a service name: lowercase letters, digits, - and _, starting with a letter or digit, at most 63"),
);
export const HealthCheck = v.pipe(
  v.strictObject({
    http: v.optional(v.pipe(v.string("expected a path such as /health"), v.startsWith("/", "expected a path starting with /"))),
    tcp: v.optional(Port),
    command: v.optional(ShellCommand),
    port: v.optional(Port),
    interval: v.optional(PositiveDuration),
    timeout: v.optional(PositiveDuration),
    retries: v.optional(v.pipe(v.number("expected a whole number"), v.integer("expected a whole number"), v.minValue(1, "expected at least 1"))),
    start_period: v.optional(Duration),
  }),
  v.check((h) => [h.http, h.tcp, h.command].filter((x) => x !== undefined).length === 1, "expected exactly one of http, tcp or command"),
  v.check((h) => h.port === undefined || h.http !== undefined, "port is for http probes (tcp names its own port)"),
);
export const Service = v.strictObject({
  command: ShellCommand,
  port: v.optional(Port),
  env: v.optional(Env),
  cwd: v.optional(NonEmptyString),
  depends_on: v.optional(v.array(ServiceName, "expected a list of service names")),
  health: v.optional(HealthCheck),
  restart: v.optional(v.picklist(["always", "on-failure", "never"], "expected always, on-failure or never")),
});
export const Services = v.record(ServiceName, Service);

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

export const WorkspaceDefinition = v.looseObject({
  path: v.optional(v.string()),
  backend: v.optional(v.picklist(["docker"])),
  image: v.optional(v.string()),
  /** Relative to the repository root, as in `.nexus/workspace.yaml`. */
  dockerfile: v.optional(NonEmptyString),
  ports: v.optional(v.array(Port)),
  env: v.optional(Env),
  resources: v.optional(Resources),
  hooks: v.optional(Hooks),
  services: v.optional(Services),
  /** sudo inside the workspace (off by default: no-new-privileges). */
  sudo: v.optional(v.boolean("expected true or false")),
});
export type WorkspaceDefinition = v.InferOutput<typeof WorkspaceDefinition>;

export const ConfigSchema = v.strictObject({
  daemon: v.optional(
    v.strictObject({
      port: v.optional(Port, 8080),
      host: v.optional(v.string(), "127.0.0.1"),
      /** Forwards may take host ports below 1024 (an extension of the spec; off: the API is no way to bind them). */
      allow_privileged_ports: v.optional(v.boolean(), false),
    }),
    {},
  ),
  docker: v.optional(v.strictObject({ host: v.optional(v.string()) }), {}),
  /** Other Docker engines by name (an extension: config/engines.ts). */
  engines: v.optional(Engines, {}),
  defaults: v.optional(
    v.strictObject({
      backend: v.optional(v.picklist(["docker"]), "docker"),
      /** The engine new workspaces run on: `local` or a name under engines (an extension). */
      engine: v.optional(v.pipe(v.string(), v.minLength(1)), "local"),
      idle_timeout: v.optional(Duration, 1800),
      /** What idleness does to a workspace (an extension of the spec's schema). */
      idle_action: v.optional(v.picklist(["pause", "stop"]), "pause"),
      resources: v.optional(Resources, "medium"),
      image: v.optional(v.string(), "nexus-workspace:latest"),
      /** How long a destroyed worktree's leftovers stay in ~/.nexus/trash (an extension of the spec). */
      trash_retention: v.optional(Duration, 7 * 86_400),
      /** devcontainer.json's initializeCommand of a cloned repository runs on this machine without asking (an extension). */
      trust_host_commands: v.optional(v.boolean(), false),
    }),
    {},
  ),
  workspaces: v.optional(v.record(v.string(), WorkspaceDefinition), {}),
  secrets: v.optional(Secrets, {}),
  sync: v.optional(Sync, {}),
  telemetry: v.optional(Telemetry, {}),
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
          // The workspace image has one login user, `nexus` (sshd allows only it): another name could never log in.
          user: v.optional(v.picklist(["nexus"], "must be nexus (the workspace's login user)"), "nexus"),
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
  /** `nexus open` / `nexus code` and the recommendations written into each workspace (core/ide/). */
  ide: v.optional(
    v.strictObject({
      default: v.optional(v.picklist(IDE_NAMES, `expected one of ${IDE_NAMES.join(", ")}`), "vscode"),
      extensions: v.optional(v.array(v.pipe(v.string("expected an extension id"), v.regex(EXTENSION_ID, "expected an extension id such as dbaeumer.vscode-eslint (publisher.name)"))), []),
    }),
    {},
  ),
});

export type NexusConfig = v.InferOutput<typeof ConfigSchema>;
