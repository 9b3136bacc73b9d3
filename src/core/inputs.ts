import * as v from "valibot";
import { Resources } from "../config/schema.ts";
import { NAME_PATTERN } from "./names.ts";
import { errors } from "./errors.ts";
import { specificIssue } from "./issues.ts";
import { WORKSPACE_STATUSES } from "./types.ts";
import { parseDuration } from "../config/units.ts";
import { labelsProblem } from "./labels/syntax.ts";
import { parseSelector } from "./labels/selector.ts";

// Request shapes, parsed at every edge (REST, gRPC, WS, CLI) with the same schemas, so the core
// receives typed, valid values and every door gives the same error for the same bad input.

const Name = v.pipe(
  v.string("name must be a string"),
  v.regex(NAME_PATTERN, "name must be 1-63 lowercase letters, digits and '-', starting with a letter or digit"),
);
const ContainerPort = v.pipe(v.number("ports must be numbers"), v.integer("ports must be whole numbers"), v.minValue(1, "ports must be 1-65535"), v.maxValue(65535, "ports must be 1-65535"));
const EnvMap = v.pipe(
  v.record(v.string(), v.string("env values must be strings")),
  v.check((env) => Object.keys(env).every((k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)), "env names must match [A-Za-z_][A-Za-z0-9_]*"),
);
/** Kubernetes-style labels (labels/syntax.ts says what a key and a value may be). */
const Labels = v.pipe(
  v.record(v.string(), v.string("label values must be strings")),
  v.rawCheck(({ dataset, addIssue }) => {
    const problem = dataset.typed ? labelsProblem(dataset.value) : undefined;
    if (problem) addIssue({ message: problem });
  }),
);
const BranchName = v.pipe(v.string(), v.minLength(1), v.regex(/^(?!-)(?!.*\.\.)[^\s~^:?*[\\]+$/, "not a valid git branch name"));

// A NUL cannot reach a command line, a path or a git argument intact: refused at the edge (400).
const noNul = (what: string) => v.check((x: string) => !x.includes("\0"), `${what} must not contain NUL bytes`);
/** Linux's MAX_ARG_STRLEN: one argument past it cannot be run, so it is refused up front. */
export const MAX_ARGUMENT_BYTES = 128 * 1024 - 1;
const Argument = (what: string, notString = `${what} must be a string`) =>
  v.pipe(v.string(notString), noNul(what), v.check((x: string) => Buffer.byteLength(x) <= MAX_ARGUMENT_BYTES, `${what} must be at most ${MAX_ARGUMENT_BYTES} bytes (Linux's limit for one argument)`));
/** An image reference: registry/name:tag@digest characters only (no spaces, newlines or control bytes). */
const ImageRef = v.pipe(v.string("image must be a string"), v.minLength(1), v.maxLength(512, "image must be at most 512 characters"), v.regex(/^[A-Za-z0-9][A-Za-z0-9._\/:@+-]*$/, "image must be an image reference such as debian:bookworm-slim"));
const HostPath = (what: string) => v.pipe(v.string(`${what} must be a string`), v.minLength(1), v.maxLength(4096, `${what} must be at most 4096 characters`), noNul(what));

export const CreateWorkspaceInput = v.strictObject({
  name: Name,
  displayName: v.optional(v.pipe(v.string(), v.maxLength(200))),
  backend: v.optional(v.picklist(["docker"], "backend must be 'docker' (the 'sprite' backend is not available)")),
  resources: v.optional(Resources),
  ports: v.optional(v.pipe(v.array(ContainerPort), v.check((p) => new Set(p).size === p.length && !p.includes(22), "ports must be distinct and not 22 (SSH)"))),
  env: v.optional(EnvMap),
  /** Clone this URL first (CLI -r/--repo). */
  repo: v.optional(HostPath("repo")),
  /** Local repository the workspace is made from (the CLI sends its working directory). */
  path: v.optional(HostPath("path")),
  /** Branch of the worktree (default nexus/<name>). */
  branch: v.optional(BranchName),
  /** Base of a new branch (default the repository's current branch). */
  fromBranch: v.optional(BranchName),
  noWorktree: v.optional(v.boolean()),
  image: v.optional(ImageRef),
  forwardAgent: v.optional(v.boolean()),
  /** The caller's SSH_AUTH_SOCK: its keys are authorized in the workspace (ssh.injection.include_agent_keys). */
  agentSocket: v.optional(HostPath("agentSocket")),
  /** Extension: seed the new workspace from a checkpoint (id or name). */
  fromCheckpoint: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** Which devcontainer.json, relative to the repository, when it has several (an extension). */
  devcontainer: v.optional(v.pipe(v.string("devcontainer must be a path"), v.minLength(1, "devcontainer must not be empty"))),
  /** Lets a cloned repository's initializeCommand run on this machine (an extension). */
  trust: v.optional(v.boolean("trust must be true or false")),
  /** Labels to find the workspace by (list's label_selector). */
  labels: v.optional(Labels),
  /** The engine it runs on, by name under engines: in the config (an extension; default defaults.engine). */
  engine: v.optional(v.pipe(v.string("engine must be a string"), v.regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "engine must be an engine name (lowercase letters, digits, '-' and '_')"))),
});
export type CreateWorkspaceInput = v.InferOutput<typeof CreateWorkspaceInput>;

export const ExecInput = v.strictObject({
  command: v.pipe(Argument("command"), v.minLength(1, "command must not be empty")),
  args: v.optional(v.array(Argument("args", "args must be strings")), []),
  cwd: v.optional(v.pipe(Argument("cwd"), v.minLength(1))),
  env: v.optional(v.pipe(EnvMap, v.check((env) => Object.values(env).every((x) => !x.includes("\0") && Buffer.byteLength(x) <= MAX_ARGUMENT_BYTES), "env values must hold no NUL bytes and be at most 128 KiB"))),
  timeout: v.optional(v.pipe(v.number("timeout must be a number of seconds"), v.minValue(0, "timeout must not be negative"), v.maxValue(86_400, "timeout must be at most a day"))),
  /** The caller's SSH_AUTH_SOCK, forwarded to the command when the workspace forwards agents. */
  agentSocket: v.optional(HostPath("agentSocket")),
  /** Run it in a new session (tmux) and answer at once with the session's id (sessions.ts). */
  detach: v.optional(v.boolean("detach must be a boolean")),
  /** The command's whole standard input (an extension); without it stdin is closed at once. */
  stdin: v.optional(v.string("stdin must be a string")),
  stdinEncoding: v.optional(v.picklist(["utf8", "base64"], "stdinEncoding must be utf8 or base64")),
  /** A pseudo-terminal of this size (an extension; streamed exec, for interactive programs). */
  tty: v.optional(
    v.strictObject({
      cols: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10000)),
      rows: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10000)),
      term: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._+-]{1,64}$/, "term must be a terminal name such as xterm-256color"))),
    }),
  ),
});
export type ExecInput = v.InferOutput<typeof ExecInput>;

export const UpdateWorkspaceInput = v.strictObject({
  resources: v.optional(Resources),
  /** Seconds (a number) or a duration such as "45m"; 0 turns idle pausing off. */
  idleTimeout: v.optional(
    v.pipe(
      v.union([v.number(), v.string()]),
      v.transform(parseDuration),
      v.check((x) => x !== undefined, "idleTimeout must be seconds or a duration such as 30m"),
      v.transform((x) => x!),
    ),
  ),
  displayName: v.optional(v.pipe(v.string(), v.maxLength(200))),
  forwardAgent: v.optional(v.boolean()),
});
export type UpdateWorkspaceInput = v.InferOutput<typeof UpdateWorkspaceInput>;

export const StopInput = v.strictObject({
  timeout: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(3600)), 30),
});

/** A restart is a start too: the caller's agent keys are authorized again (ssh.injection.include_agent_keys). */
export const RestartInput = v.strictObject({
  ...StopInput.entries,
  agentSocket: v.optional(v.pipe(v.string(), v.minLength(1))),
});

const Seconds = v.pipe(v.number("timeout must be a number of seconds"), v.minValue(0, "timeout must not be negative"), v.maxValue(86_400, "timeout must be at most a day"));

export const StartInput = v.strictObject({
  agentSocket: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** The spec's StartWorkspaceRequest options. */
  skipHooks: v.optional(v.boolean()),
  skipServices: v.optional(v.boolean()),
  blocking: v.optional(v.boolean()),
  timeout: v.optional(Seconds),
});
export type StartInput = v.InferOutput<typeof StartInput>;

export const RunHookInput = v.strictObject({
  timeout: v.optional(Seconds),
});

export const ServiceLogsQuery = v.object({
  follow: v.optional(v.picklist(["true", "false", "1", "0", ""], "follow must be true or false")),
  /** A timestamp, or a duration back from now such as 10m. */
  since: v.optional(v.pipe(v.string(), v.minLength(1))),
  tail: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "tail must be a whole number"), v.transform(Number), v.maxValue(100_000, "tail must be at most 100000"))),
});

export const SshConfigInput = v.strictObject({
  includeHostKey: v.optional(v.boolean(), false),
});

export const ResumeInput = v.strictObject({
  blocking: v.optional(v.boolean(), true),
  timeout: v.optional(v.pipe(v.number(), v.minValue(0)), 120),
});

export const PauseInput = v.strictObject({
  timeout: v.optional(v.pipe(v.number(), v.minValue(0)), 60),
});

export const ListWorkspacesInput = v.object({
  // A misspelt status is an error, not an empty list.
  status: v.optional(v.picklist(WORKSPACE_STATUSES, `status must be one of ${WORKSPACE_STATUSES.join(", ")}`)),
  backend: v.optional(v.string()),
  /** Parsed here, so REST and gRPC refuse a bad selector with the same message (labels/selector.ts). */
  label_selector: v.optional(v.pipe(v.string("label_selector must be a string"), v.transform(parseSelector))),
});
export type ListWorkspacesInput = v.InferOutput<typeof ListWorkspacesInput>;

/** Parses `input` or throws INVALID_ARGUMENT naming the field and the problem. */
export function parseInput<S extends v.GenericSchema>(schema: S, input: unknown, what: string): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  const issue = specificIssue(result.issues[0]);
  const field = issue.path?.map((p) => String(p.key)).join(".");
  // Valibot reports a missing key and an extra key alike; tell them apart for the user.
  const missing = issue.received === "undefined";
  const unknown = issue.type === "strict_object" && issue.expected === "never";
  const message = field && missing ? `missing field '${field}'` : field && unknown ? `unknown field '${field}'` : issue.message;
  const prefix = field && !missing && !unknown ? `${field}: ` : "";
  throw errors.invalidArgument(`Invalid ${what}: ${prefix}${message}`, "Check the request against 'nexus <command> --help' or the API spec", {
    ...(field ? { field } : {}),
  });
}

// ---- port forwarding

const TcpPort = (field: string) =>
  v.pipe(v.number(`${field} must be a number`), v.integer(`${field} must be a whole number`), v.minValue(1, `${field} must be 1-65535`), v.maxValue(65535, `${field} must be 1-65535`));

export const PortForwardInput = v.strictObject({
  containerPort: TcpPort("containerPort"),
  /** A fixed host port; left out, one comes from ssh.port_range. */
  hostPort: v.optional(TcpPort("hostPort")),
  visibility: v.optional(v.picklist(["private", "public"], "visibility must be 'private' or 'public'")),
  /** Held by a streamed request (Accept: application/x-ndjson) and removed when it ends; never persisted. */
  temporary: v.optional(v.boolean("temporary must be a boolean")),
});
export type PortForwardInput = v.InferOutput<typeof PortForwardInput>;
