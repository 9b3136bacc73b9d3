// A project's workspace configuration: `devcontainer.json` (config/devcontainer/), `.nexus/lifecycle.json`,
// `.nexus/workspace.yaml` and the user config's `workspaces.<name>` entry, each read into a layer here
// and merged in that order (project-merge.ts). Errors name the file, the line and the key (project-locate.ts).
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { join, posix, relative, resolve, sep } from "node:path";
import * as v from "valibot";
import { LineCounter, parseDocument } from "yaml";
import { NexusError } from "../kernel/errors.ts";
import { readUntrustedFileSync } from "../fs/untrusted-files.ts";
import { shellLine } from "../ssh/quote.ts";
import { Duration, Env, HOOK_NAMES, Hooks, Port, Resources, Services, WorkspaceDefinition, type HookName } from "./schema.ts";
import { chooseDevcontainer } from "./devcontainer/find.ts";
import { parseDevcontainer } from "./devcontainer/layer.ts";
import { invalidProject } from "./project-error.ts";
import { fileLocator, keyOrder, layerError, lineLocator, validate } from "./project-locate.ts";
import { mergeLayers } from "./project-merge.ts";
import type { HealthProbe, PathKey, ProjectConfig, ProjectLayer, ServiceDefinition } from "./project-types.ts";

export { HOOK_NAMES, type HookName };
export { mergeLayers };
export type { HealthProbe, HookStep, ProjectConfig, ProjectLayer, ResourcesSetting, ServiceDefinition } from "./project-types.ts";

export const DEFAULT_HOOK_TIMEOUT_SECONDS = 300;
const HEALTH_DEFAULTS = { intervalSeconds: 2, timeoutSeconds: 2, retries: 3, startPeriodSeconds: 60 };
const CONTAINER_WORKDIR = "/workspace";

const ProjectFile = v.strictObject({
  image: v.optional(v.pipe(v.string("expected an image reference"), v.check((s) => s.trim() !== "", "expected an image reference"))),
  dockerfile: v.optional(v.pipe(v.string("expected a path"), v.check((s) => s.trim() !== "", "expected a path"))),
  ports: v.optional(v.array(Port, "expected a list of ports")),
  env: v.optional(Env),
  resources: v.optional(Resources),
  hooks: v.optional(Hooks),
  services: v.optional(Services),
  sudo: v.optional(v.boolean("expected true or false")),
});

// The format of the project this design comes from: `command` is a program, `args` its arguments.
const LifecycleStep = v.strictObject({
  name: v.optional(v.pipe(v.string(), v.check((s) => s.trim() !== "", "expected a non-empty name"))),
  command: v.pipe(v.string("expected a command"), v.check((s) => s.trim() !== "", "expected a non-empty command")),
  args: v.optional(v.array(v.string("expected a string"), "expected a list of strings")),
  env: v.optional(Env),
  timeout: v.optional(v.pipe(Duration, v.check((x) => x > 0, "expected a duration above zero"))),
});
const LifecycleSteps = v.optional(v.array(LifecycleStep, "expected a list of {name, command, args, env, timeout}"));
const LifecycleFile = v.strictObject({
  version: v.optional(v.picklist([1, "1", "1.0"], "expected version 1")),
  hooks: v.optional(
    v.strictObject({
      "pre-start": LifecycleSteps,
      "post-start": LifecycleSteps,
      "pre-stop": LifecycleSteps,
      "post-stop": LifecycleSteps,
      "health-check": LifecycleSteps,
      "on-create": LifecycleSteps,
      "update-content": LifecycleSteps,
      "post-create": LifecycleSteps,
      "post-attach": LifecycleSteps,
    }),
  ),
});

/** Parses `.nexus/workspace.yaml` text. */
export function parseProjectYaml(text: string, file: string): ProjectLayer {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
    throw invalidProject(file, e.message.split("\n")[0]!, line);
  }
  const layer: ProjectLayer = { file, locate: fileLocator(doc, lines), hooks: {}, services: [] };
  const parsed = validate(ProjectFile, doc.toJS() ?? {}, layer, "expected a mapping with keys such as image, ports, env, hooks and services");
  return fillLayer(layer, parsed, keyOrder(doc, ["services"]));
}

/** Parses `.nexus/lifecycle.json` text (hooks only). */
export function parseLifecycleJson(text: string, file: string): ProjectLayer {
  const lines = new LineCounter();
  // JSON is YAML: the YAML parser gives the lines that JSON.parse does not.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const at = /position (\d+)/.exec(message);
    const line = at ? lines.linePos(Number(at[1])).line : doc.errors[0] ? lines.linePos(doc.errors[0].pos[0]).line : undefined;
    throw invalidProject(file, `invalid JSON: ${message.replace(/^JSON Parse error: /, "")}`, line);
  }
  const layer: ProjectLayer = { file, locate: fileLocator(doc, lines), hooks: {}, services: [] };
  const parsed = validate(LifecycleFile, raw, layer, "expected an object {version, hooks}");
  for (const hook of HOOK_NAMES) {
    const steps = parsed.hooks?.[hook];
    if (steps === undefined) continue;
    layer.hooks[hook] = steps.map((s, i) => ({
      name: s.name ?? defaultStepName(hook, i, steps.length),
      // Without args the command is taken as a shell line, so "npm install" works as well as "npm".
      command: s.args === undefined ? s.command : shellLine([s.command, ...s.args]),
      env: s.env ?? {},
      timeoutSeconds: s.timeout ?? DEFAULT_HOOK_TIMEOUT_SECONDS,
    }));
    checkStepNames(layer, hook);
  }
  return layer;
}

/**
 * The user config's `workspaces.<name>` entry as a layer. `file` and `name` only serve messages; without
 * `name`, the entry of `file` that parses to the same value is taken (looked for only when there is an error).
 */
export function userWorkspaceLayer(entry: unknown, file?: string, name?: string): ProjectLayer {
  let found: { name?: string; lineOf: (path: readonly PathKey[]) => number | undefined } | undefined;
  const entryIn = () => (found ??= findUserEntry(entry, file, name));
  const locate = (path: readonly PathKey[]) => {
    const { name: at, lineOf } = entryIn();
    return { line: lineOf(path), key: [...(at !== undefined ? ["workspaces", at] : []), ...path].join(".") };
  };
  const layer: ProjectLayer = { file: file ?? "user configuration", locate, hooks: {}, services: [] };
  return fillLayer(layer, validate(WorkspaceDefinition, entry ?? {}, layer, "expected a mapping with keys such as image, ports, env, hooks and services"));
}

function findUserEntry(entry: unknown, file: string | undefined, name: string | undefined) {
  if (file === undefined || !existsSync(file)) return { name, lineOf: () => undefined };
  const lines = new LineCounter();
  const doc = parseDocument(readFileSync(file, "utf8"), { lineCounter: lines, prettyErrors: false });
  const workspaces = doc.errors.length === 0 ? (doc.toJS() as { workspaces?: Record<string, unknown> } | null)?.workspaces : undefined;
  const normal = (raw: unknown) => JSON.stringify(v.safeParse(WorkspaceDefinition, raw).output);
  const match = name ?? Object.entries(workspaces ?? {}).find(([, raw]) => normal(raw) === normal(entry))?.[0];
  const inFile = lineLocator(doc, lines);
  return { name: match, lineOf: (path: readonly PathKey[]) => (match === undefined ? undefined : inFile(["workspaces", match, ...path])) };
}

export interface ProjectLoadOptions {
  userWorkspace?: unknown;
  userConfigFile?: string;
  userWorkspaceName?: string;
  /** Which devcontainer.json (relative to the root) when there are several; false reads none. */
  devcontainer?: string | false;
  /**
   * The devcontainer.json to use instead of looking in the tree: a copy read earlier (its path relative
   * to the root, and its text), or null for none. The tree is the workspace's to write; the file says
   * what runs on this machine, so a workspace's starts use the copy its create read (core/devcontainer.ts).
   */
  devcontainerCopy?: DevcontainerCopy | null;
  /** `${localEnv:...}` (default: this process's environment). */
  localEnv?: Record<string, string | undefined>;
  /** The container's environment once known, for `${containerEnv:...}`. */
  containerEnv?: Record<string, string>;
}

/** Loads and merges the configuration of the project in `dir` (the repository root). */
export function loadProjectConfig(dir: string, opts: ProjectLoadOptions = {}): ProjectConfig {
  const root = resolve(dir);
  const layers: ProjectLayer[] = [];
  // The worktree is the workspace's: its files are read with no symlinks out, regular files only, size-capped.
  // devcontainer.json first: Nexus's own files, read after it, win where both set a key.
  const copy = opts.devcontainerCopy !== undefined ? opts.devcontainerCopy : opts.devcontainer === false ? null : readDevcontainer(root, opts.devcontainer);
  if (copy) {
    layers.push(
      parseDevcontainer({
        file: join(root, copy.file),
        text: copy.text,
        root,
        localEnv: opts.localEnv ?? process.env,
        ...(opts.containerEnv ? { containerEnv: opts.containerEnv } : {}),
      }),
    );
  }
  const lifecycle = join(root, ".nexus", "lifecycle.json");
  const lifecycleText = readUntrustedFileSync(root, lifecycle);
  if (lifecycleText !== undefined) layers.push(parseLifecycleJson(lifecycleText, lifecycle));
  const yamlFile = projectYamlFile(root);
  const yamlText = yamlFile ? readUntrustedFileSync(root, yamlFile) : undefined;
  if (yamlFile && yamlText !== undefined) layers.push(parseProjectYaml(yamlText, yamlFile));
  if (opts.userWorkspace !== undefined) {
    const userFile = opts.userConfigFile !== undefined ? resolve(opts.userConfigFile) : undefined;
    layers.push(userWorkspaceLayer(opts.userWorkspace, userFile, opts.userWorkspaceName));
  }
  return mergeLayers(root, layers);
}

/** A devcontainer.json as read: its path relative to the repository root, and its text. */
export interface DevcontainerCopy {
  file: string;
  text: string;
}

/** The project's devcontainer.json in `root` (the chosen one when there are several), or null when it has none. */
export function readDevcontainer(root: string, chosen?: string): DevcontainerCopy | null {
  const file = chooseDevcontainer(root, chosen);
  const text = file ? readUntrustedFileSync(root, file) : undefined;
  return file && text !== undefined ? { file: relative(root, file).split(sep).join("/"), text } : null;
}

function projectYamlFile(root: string): string | undefined {
  const candidates = ["workspace.yaml", "workspace.yml"].map((f) => join(root, ".nexus", f)).filter(lexists);
  if (candidates.length > 1) {
    throw new NexusError("INVALID_ARGUMENT", `Invalid project configuration: both ${candidates.join(" and ")} exist`, {
      suggestion: `Keep one of them: merge ${candidates[1]} into ${candidates[0]}`,
      details: { file: candidates[0]!, files: candidates },
    });
  }
  return candidates[0];
}

function fillLayer(layer: ProjectLayer, parsed: v.InferOutput<typeof ProjectFile>, serviceOrder?: string[]): ProjectLayer {
  if (parsed.image !== undefined && parsed.dockerfile !== undefined) {
    throw layerError(layer, ["dockerfile"], "set either image or dockerfile, not both");
  }
  if (parsed.image !== undefined) layer.image = parsed.image;
  if (parsed.dockerfile !== undefined) layer.dockerfile = parsed.dockerfile;
  if (parsed.ports !== undefined) layer.ports = parsed.ports;
  if (parsed.env !== undefined) layer.env = parsed.env;
  if (parsed.resources !== undefined) layer.resources = parsed.resources;
  if (parsed.sudo !== undefined) layer.sudo = parsed.sudo;
  for (const hook of HOOK_NAMES) {
    const value = parsed.hooks?.[hook];
    if (value === undefined) continue;
    const entries = typeof value === "string" ? [value] : value;
    layer.hooks[hook] = entries.map((e, i) =>
      typeof e === "string"
        ? { name: defaultStepName(hook, i, entries.length), command: e, env: {}, timeoutSeconds: DEFAULT_HOOK_TIMEOUT_SECONDS }
        : {
            name: e.name ?? defaultStepName(hook, i, entries.length),
            command: e.command,
            env: e.env ?? {},
            timeoutSeconds: e.timeout ?? DEFAULT_HOOK_TIMEOUT_SECONDS,
          },
    );
    checkStepNames(layer, hook);
  }
  const names = Object.keys(parsed.services ?? {});
  // Object keys put integer-like names first; the file's own order is what ties keep.
  if (serviceOrder) names.sort((a, b) => serviceOrder.indexOf(a) - serviceOrder.indexOf(b));
  layer.services = names.map((name) => toService(layer, name, parsed.services![name]!));
  return layer;
}

function toService(layer: ProjectLayer, name: string, s: v.InferOutput<typeof Services>[string]): ServiceDefinition {
  const service: ServiceDefinition = {
    name,
    command: s.command,
    env: s.env ?? {},
    dependsOn: [...new Set(s.depends_on ?? [])],
    restart: s.restart ?? "on-failure",
  };
  if (s.port !== undefined) service.port = s.port;
  if (s.cwd !== undefined) service.cwd = posix.resolve(CONTAINER_WORKDIR, s.cwd);
  if (s.health !== undefined) {
    const h = s.health;
    const probe: HealthProbe = {
      kind: h.http !== undefined ? "http" : h.tcp !== undefined ? "tcp" : "command",
      intervalSeconds: h.interval ?? HEALTH_DEFAULTS.intervalSeconds,
      timeoutSeconds: h.timeout ?? HEALTH_DEFAULTS.timeoutSeconds,
      retries: h.retries ?? HEALTH_DEFAULTS.retries,
      startPeriodSeconds: h.start_period ?? HEALTH_DEFAULTS.startPeriodSeconds,
    };
    if (h.http !== undefined) {
      probe.http = h.http;
      const port = h.port ?? s.port;
      if (port === undefined) {
        throw layerError(layer, ["services", name, "health"], "an http probe needs a port: set port on the service or on the probe");
      }
      probe.port = port;
    } else if (h.tcp !== undefined) {
      probe.tcp = h.tcp;
      probe.port = h.tcp;
    } else {
      probe.command = h.command!;
    }
    service.health = probe;
  }
  return service;
}

function defaultStepName(hook: HookName, index: number, count: number): string {
  return count === 1 ? hook : `${hook}-${index + 1}`;
}

// Step names label logs, so two steps of one hook must not share one.
function checkStepNames(layer: ProjectLayer, hook: HookName): void {
  const seen = new Set<string>();
  for (const [i, step] of (layer.hooks[hook] ?? []).entries()) {
    if (seen.has(step.name)) throw layerError(layer, ["hooks", hook, i, "name"], `another step of ${hook} is already named '${step.name}'`);
    seen.add(step.name);
  }
}

/** Exists, as itself (a symlink or FIFO counts: reading it is refused with the reason). */
function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

