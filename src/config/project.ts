// A project's workspace configuration: `devcontainer.json` (config/devcontainer/), `.nexus/lifecycle.json`,
// `.nexus/workspace.yaml` and the user config's `workspaces.<name>` entry, merged in that order. Errors name the file, the line and the key.
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { isAbsolute, join, posix, resolve } from "node:path";
import * as v from "valibot";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from "yaml";
import { NexusError } from "../kernel/errors.ts";
import { isUntrustedRegularFile, readUntrustedFileSync } from "../fs/untrusted-files.ts";
import { specificIssue } from "../kernel/issues.ts";
import { shellLine } from "../ssh/quote.ts";
import { Duration, Env, HOOK_NAMES, Hooks, Port, Resources, Services, WorkspaceDefinition, type HookName } from "./schema.ts";
import { chooseDevcontainer } from "./devcontainer/find.ts";
import { parseDevcontainer, type BuildOptions, type DevcontainerSettings } from "./devcontainer/layer.ts";
import { invalidProject } from "./project-error.ts";

export { HOOK_NAMES, type HookName };

export interface HookStep {
  name: string;
  /** A shell command line, for `sh -c`. */
  command: string;
  env: Record<string, string>;
  timeoutSeconds: number;
  /** Where it runs (default /workspace); devcontainer.json's commands run in its workspaceFolder. */
  cwd?: string;
  /** Steps of one hook with the same batch run in parallel (devcontainer.json's named commands). */
  batch?: number;
}

export interface HealthProbe {
  kind: "http" | "tcp" | "command";
  /** A path starting with `/`. */
  http?: string;
  tcp?: number;
  command?: string;
  /** The target port of an http or tcp probe (the service's port unless the probe names one). */
  port?: number;
  intervalSeconds: number;
  timeoutSeconds: number;
  /** Consecutive failures before the service counts as unhealthy. */
  retries: number;
  /** Failures during this time after start keep the service 'starting'. */
  startPeriodSeconds: number;
}

export interface ServiceDefinition {
  name: string;
  command: string;
  port?: number;
  env: Record<string, string>;
  /** An absolute path inside the container; a relative `cwd` in the file is taken from /workspace. */
  cwd?: string;
  dependsOn: string[];
  health?: HealthProbe;
  restart: "always" | "on-failure" | "never";
}

/** A preset name (small, medium, large, xlarge) or limits; memory is in bytes. */
export type ResourcesSetting = string | { cpu: number; memory: number };

export interface ProjectConfig {
  /** The files that contributed (absolute paths), for messages. */
  files: string[];
  image?: string;
  /** Absolute path. */
  dockerfile?: string;
  ports: number[];
  env: Record<string, string>;
  resources?: ResourcesSetting;
  /** sudo inside the workspace: off unless a layer says true. */
  sudo?: boolean;
  hooks: Partial<Record<HookName, HookStep[]>>;
  /** Dependencies first; services that do not depend on each other keep their file order. */
  services: ServiceDefinition[];
  /** Build context, args and target of `dockerfile` (devcontainer.json's build). */
  build?: BuildOptions;
  /** Names of ports by container port (devcontainer.json's portsAttributes labels). */
  portNames?: Record<number, string>;
  /** What a devcontainer.json adds (container options, features, initializeCommand, ...), when one was read. */
  devcontainer?: DevcontainerSettings;
  /** The file that set each key ("image", "ports", "env.NAME", "hooks.post-start", "services.web", ...). */
  sources: Record<string, string>;
  /** Keys a later file set again: `by` won over `file`. */
  overridden: Array<{ key: string; file: string; by: string }>;
}

type PathKey = string | number;

/** One source of configuration, normalised but not yet checked against the other sources. */
export interface ProjectLayer {
  file: string;
  /** Where a key path (as in the layer) is written: its line when known, and the key as messages name it. */
  locate: (path: readonly PathKey[]) => { line: number | undefined; key: string };
  image?: string;
  /** As written: relative to the repository root. */
  dockerfile?: string;
  ports?: number[];
  env?: Record<string, string>;
  resources?: ResourcesSetting;
  sudo?: boolean;
  hooks: Partial<Record<HookName, HookStep[]>>;
  services: ServiceDefinition[];
  build?: BuildOptions;
  portNames?: Record<number, string>;
  devcontainer?: DevcontainerSettings;
}

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
  const devcontainer = opts.devcontainer === false ? undefined : chooseDevcontainer(root, opts.devcontainer);
  const devcontainerText = devcontainer ? readUntrustedFileSync(root, devcontainer) : undefined;
  if (devcontainer && devcontainerText !== undefined) {
    layers.push(
      parseDevcontainer({
        file: devcontainer,
        text: devcontainerText,
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

/**
 * Later layers win per key; env merges per variable, hooks are replaced per hook, services per name
 * (a replaced service keeps its place). `files` lists the layers' files that are absolute paths.
 */
export function mergeLayers(root: string, layers: readonly ProjectLayer[]): ProjectConfig {
  const config: ProjectConfig = { files: [], ports: [], env: {}, hooks: {}, services: [], sources: {}, overridden: [] };
  let dockerfileFrom: ProjectLayer | undefined;
  const services = new Map<string, { service: ServiceDefinition; layer: ProjectLayer }>();
  for (const layer of layers) {
    if (isAbsolute(layer.file) && !config.files.includes(layer.file)) config.files.push(layer.file);
    const set = (key: string) => {
      const before = config.sources[key];
      if (before !== undefined && before !== layer.file) config.overridden.push({ key, file: before, by: layer.file });
      config.sources[key] = layer.file;
    };
    // image and dockerfile say the same thing, so a layer that sets either replaces both.
    if (layer.image !== undefined || layer.dockerfile !== undefined) {
      config.image = layer.image;
      config.dockerfile = layer.dockerfile;
      config.build = layer.build;
      dockerfileFrom = layer.dockerfile !== undefined ? layer : undefined;
      set("image");
    }
    if (layer.ports !== undefined) {
      config.ports = [...new Set(layer.ports)];
      set("ports");
    }
    if (layer.env !== undefined) {
      Object.assign(config.env, layer.env);
      for (const k of Object.keys(layer.env)) set(`env.${k}`);
    }
    if (layer.resources !== undefined) {
      config.resources = layer.resources;
      set("resources");
    }
    if (layer.sudo !== undefined) {
      config.sudo = layer.sudo;
      set("sudo");
    }
    Object.assign(config.hooks, layer.hooks);
    for (const hook of Object.keys(layer.hooks)) set(`hooks.${hook}`);
    for (const service of layer.services) {
      services.set(service.name, { service, layer });
      set(`services.${service.name}`);
    }
    if (layer.portNames !== undefined) config.portNames = { ...config.portNames, ...layer.portNames };
    if (layer.devcontainer !== undefined) config.devcontainer = layer.devcontainer;
  }
  if (config.image === undefined) delete config.image;
  if (config.build === undefined) delete config.build;
  if (config.dockerfile === undefined) delete config.dockerfile;
  else config.dockerfile = checkDockerfile(root, config.dockerfile, dockerfileFrom!);
  for (const hook of HOOK_NAMES) if (config.hooks[hook]?.length === 0) delete config.hooks[hook];
  config.services = sortServices(services);
  return config;
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

function checkDockerfile(root: string, dockerfile: string, layer: ProjectLayer): string {
  const path = resolve(root, dockerfile);
  // Inside the repository, a regular file, reached without a symlink out: the build reads its folder.
  if (!isUntrustedRegularFile(root, path)) {
    throw layerError(layer, ["dockerfile"], `no such file: ${path} (paths are relative to the repository root)`);
  }
  return path;
}

/** Kahn's order, always taking the earliest ready service, so unrelated services keep file order. */
function sortServices(byName: Map<string, { service: ServiceDefinition; layer: ProjectLayer }>): ServiceDefinition[] {
  for (const { service, layer } of byName.values()) {
    for (const [i, dep] of service.dependsOn.entries()) {
      const at = ["services", service.name, "depends_on", i];
      if (dep === service.name) throw layerError(layer, at, `'${service.name}' depends on itself`, 3);
      if (!byName.has(dep)) throw layerError(layer, at, `unknown service '${dep}'`, 3);
    }
  }
  const sorted: ServiceDefinition[] = [];
  const placed = new Set<string>();
  const pending = [...byName.values()];
  while (pending.length > 0) {
    const next = pending.findIndex(({ service }) => service.dependsOn.every((d) => placed.has(d)));
    if (next < 0) throw cycleError(pending, byName);
    const { service } = pending.splice(next, 1)[0]!;
    sorted.push(service);
    placed.add(service.name);
  }
  return sorted;
}

// Every pending service waits on another pending one, so following those waits must come round.
function cycleError(
  pending: { service: ServiceDefinition; layer: ProjectLayer }[],
  byName: Map<string, { service: ServiceDefinition; layer: ProjectLayer }>,
): NexusError {
  const waiting = new Set(pending.map((p) => p.service.name));
  const path: string[] = [];
  let current = pending[0]!.service.name;
  while (!path.includes(current)) {
    path.push(current);
    current = byName.get(current)!.service.dependsOn.find((d) => waiting.has(d))!;
  }
  const cycle = [...path.slice(path.indexOf(current)), current];
  const first = byName.get(cycle[0]!)!;
  const at = ["services", first.service.name, "depends_on", first.service.dependsOn.indexOf(cycle[1]!)];
  return layerError(first.layer, at, `dependency cycle: ${cycle.join(" -> ")}`, 3);
}

function validate<S extends v.GenericSchema>(schema: S, raw: unknown, layer: ProjectLayer, expected: string): v.InferOutput<S> {
  // valibot's objects take arrays too (as keys "0", "1", ...), which would make a confusing message.
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw layerError(layer, [], expected);
  const result = v.safeParse(schema, raw);
  if (result.success) return result.output;
  // A misspelt key is also a missing one; the misspelling is what to fix.
  const issue = specificIssue(result.issues.find((i) => i.expected === "never") ?? result.issues[0]);
  const path = (issue.path ?? []).map((p) => p.key as PathKey);
  throw layerError(layer, path, describeIssue(issue, path));
}

function describeIssue(issue: v.BaseIssue<unknown>, path: PathKey[]): string {
  if (issue.expected === "never") return `unknown key '${String(path.at(-1))}'`;
  if (issue.received === "undefined" && /^".*"$/.test(issue.expected ?? "")) return `missing key ${issue.expected}`;
  return issue.message;
}

/** An error at `path`; only its first `keyDepth` parts are named as the key (the line still comes from all of it). */
function layerError(layer: ProjectLayer, path: readonly PathKey[], message: string, keyDepth = path.length): NexusError {
  const { line } = layer.locate(path);
  const { key } = layer.locate(path.slice(0, keyDepth));
  return invalidProject(layer.file, message, line, key === "" ? "(top level)" : key);
}

/** The line where each key path is written: the key's own line for mapping entries, the item's for lists. */
function lineLocator(doc: Document, lines: LineCounter): (path: readonly PathKey[]) => number | undefined {
  const lineAt = (node: unknown): number | undefined => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? lines.linePos(range[0]).line : undefined;
  };
  return (path) => {
    let node: unknown = doc.contents;
    let line = lineAt(node);
    for (const step of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(step));
        if (!pair) break;
        line = lineAt(pair.key) ?? lineAt(pair.value) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof step === "number" && node.items[step] !== undefined) {
        node = node.items[step];
        line = lineAt(node) ?? line;
      } else {
        break;
      }
    }
    return line;
  };
}

function fileLocator(doc: Document, lines: LineCounter): ProjectLayer["locate"] {
  const lineOf = lineLocator(doc, lines);
  return (path) => ({ line: lineOf(path), key: path.join(".") });
}

function keyOrder(doc: Document, path: PathKey[]): string[] {
  const node = doc.getIn(path, true);
  return isMap(node) ? node.items.map((p) => String(isScalar(p.key) ? p.key.value : p.key)) : [];
}
