// devcontainer.json → one layer of project configuration, beside .nexus/workspace.yaml (which is
// read after it, so it wins per key). Keys follow the Dev Container spec (containers.dev,
// "devcontainer.json reference"); a key Nexus cannot honour is refused with the reason, never skipped.
import { existsSync, statSync } from "node:fs";
import { dirname, posix, relative, resolve } from "node:path";
import { isUntrustedRegularFile } from "../../fs/untrusted-files.ts";
import type { NexusError } from "../../kernel/errors.ts";
import type { HookName } from "../schema.ts";
import type { HookStep, ProjectLayer } from "../project-types.ts";
import { invalidProject } from "../project-error.ts";
import { parseSize } from "../units.ts";
import { applyRunArgs, emptyContainerOptions, parseMount, type ContainerOptions } from "./container.ts";
import { resolveFeatures, type LocalFeature } from "./features.ts";
import { JsoncSyntaxError, parseJsonc, type JsonPath } from "./jsonc.ts";
import { lifecycleSteps } from "./lifecycle.ts";
import { devcontainerId, substitute, substituteDeep, type SubstitutionContext } from "./variables.ts";

export const DEFAULT_WORKSPACE_FOLDER = "/workspace";

export interface HostRequirements {
  cpus?: number;
  /** Bytes. */
  memory?: number;
  storage?: number;
  gpu?: boolean | "optional";
}

/** What devcontainer.json asks for beyond the keys every source shares (image, ports, env, hooks). */
export interface DevcontainerSettings {
  file: string;
  container: ContainerOptions;
  /** Where the worktree is (also) mounted and where lifecycle commands run. */
  workspaceFolder: string;
  features: LocalFeature[];
  /** initializeCommand: runs on the host, in the worktree, before the container is made or started. */
  initialize: HookStep[];
  hostRequirements: HostRequirements;
  /** The lifecycle command tools wait for before connecting (the spec's waitFor, as a hook name). */
  waitFor: HookName;
  /** Keys that are mapped with a difference the user should know about (shown by create). */
  notes: string[];
}

export interface BuildOptions {
  /** Absolute. */
  context: string;
  args: Record<string, string>;
  target?: string;
}

export interface DevcontainerLayer extends ProjectLayer {
  devcontainer: DevcontainerSettings;
}

export const LIFECYCLE_HOOKS = {
  onCreateCommand: "on-create",
  updateContentCommand: "update-content",
  postCreateCommand: "post-create",
  postStartCommand: "post-start",
  postAttachCommand: "post-attach",
} as const satisfies Record<string, HookName>;

const COMPOSE = "Docker Compose based configurations are not supported yet: they describe several containers, and a Nexus workspace is one container; use image or build.dockerfile (and services in .nexus/workspace.yaml for the other processes)";

/** Keys of the spec that only describe the file or a tool's UI, and keys whose meaning Nexus already has. */
const DESCRIPTIVE = new Set(["$schema", "name", "customizations", "otherPortsAttributes", "userEnvProbe", "secrets", "init", "updateRemoteUserUID"]);
const REFUSED: Record<string, string> = {
  dockerComposeFile: COMPOSE,
  service: COMPOSE,
  runServices: COMPOSE,
  privileged: "privileged containers reach the host's devices and kernel; Nexus does not run a project's container that way",
  overrideCommand: "Nexus's container always runs its own init (sshd), not the image's command; run long-lived processes as services in .nexus/workspace.yaml",
};

export interface DevcontainerInput {
  /** Absolute path of devcontainer.json. */
  file: string;
  text: string;
  /** The folder that is the workspace (the worktree); `${localWorkspaceFolder}`. */
  root: string;
  localEnv: Record<string, string | undefined>;
  /** The container's environment when known (see SubstitutionContext.containerEnv). */
  containerEnv?: Record<string, string>;
}

export function parseDevcontainer(input: DevcontainerInput): DevcontainerLayer {
  const { file } = input;
  let doc;
  try {
    doc = parseJsonc(input.text);
  } catch (err) {
    if (err instanceof JsoncSyntaxError) throw invalidProject(file, err.message, err.line);
    throw err;
  }
  const fail = (path: JsonPath, message: string): NexusError => invalidProject(file, message, doc.lineOf(path), path.length ? path.join(".") : "(top level)");
  const raw = doc.value;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw fail([], "expected an object with keys such as image, build, forwardPorts and postCreateCommand");

  const configDir = dirname(file);
  const id = devcontainerId(input.root, file);
  const base: SubstitutionContext = { localEnv: input.localEnv, localWorkspaceFolder: input.root, containerWorkspaceFolder: DEFAULT_WORKSPACE_FOLDER, devcontainerId: id };
  // workspaceFolder may use the other variables (commonly /workspaces/${localWorkspaceFolderBasename}); the rest may use it.
  const rawFolder = (raw as Record<string, unknown>).workspaceFolder;
  let workspaceFolder = DEFAULT_WORKSPACE_FOLDER;
  if (rawFolder !== undefined) {
    if (typeof rawFolder !== "string" || !substitute(rawFolder, base).startsWith("/")) throw fail(["workspaceFolder"], "expected an absolute path in the container");
    workspaceFolder = posix.normalize(substitute(rawFolder, base));
  }
  const ctx: SubstitutionContext = { ...base, containerWorkspaceFolder: workspaceFolder, ...(input.containerEnv ? { containerEnv: input.containerEnv } : {}) };
  const c = substituteDeep(raw as Record<string, unknown>, ctx);

  const layer: DevcontainerLayer = {
    file,
    locate: (path) => ({ line: doc.lineOf(path), key: path.join(".") }),
    hooks: {},
    services: [],
    devcontainer: {
      file,
      container: emptyContainerOptions(),
      workspaceFolder,
      features: [],
      initialize: [],
      hostRequirements: {},
      waitFor: "update-content",
      notes: [],
    },
  };
  const dc = layer.devcontainer;
  const str = (key: string, v: unknown): string => {
    if (typeof v !== "string" || v.trim() === "") throw fail([key], "expected a non-empty string");
    return v;
  };
  const envMap = (path: JsonPath, v: unknown, allowNull: boolean): Record<string, string> => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw fail(path, "expected an object of environment variables");
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(v)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw fail([...path, k], "expected an environment variable name (letters, digits and _, not starting with a digit)");
      if (val === null && allowNull) continue; // remoteEnv: null unsets a variable; it is simply not set.
      if (typeof val !== "string") throw fail([...path, k], "expected a string");
      if (/[\r\n]/.test(val)) throw fail([...path, k], "a value cannot span lines: the workspace's environment is read line by line");
      out[k] = val;
    }
    return out;
  };

  for (const key of Object.keys(c)) {
    if (REFUSED[key] !== undefined) {
      // overrideCommand: true is what Nexus does anyway.
      if (key === "overrideCommand" && c[key] === true) continue;
      if (key === "privileged" && c[key] === false) continue;
      throw fail([key], `not supported: ${REFUSED[key]}`);
    }
  }

  for (const [key, value] of Object.entries(c)) {
    switch (key) {
      case "image":
        layer.image = str(key, value);
        break;
      case "build":
      case "dockerFile":
      case "context":
        break; // below, together
      case "containerEnv":
        dc.container.env = { ...envMap([key], value, false), ...dc.container.env };
        break;
      case "remoteEnv":
        break; // below, after containerEnv
      case "forwardPorts":
      case "appPort": {
        const list = key === "appPort" && !Array.isArray(value) ? [value] : value;
        if (!Array.isArray(list)) throw fail([key], "expected a list of ports");
        layer.ports ??= [];
        list.forEach((p, i) => layer.ports!.push(portOf(key, p, [key, ...(Array.isArray(value) ? [i] : [])], fail, dc.notes)));
        break;
      }
      case "portsAttributes":
        layer.portNames = portNames(value, fail);
        break;
      case "runArgs": {
        const problem = applyRunArgs(value, dc.container, input.localEnv);
        if (problem) throw fail(problem.index < 0 ? [key] : [key, problem.index], problem.message);
        break;
      }
      case "capAdd":
      case "securityOpt": {
        if (!Array.isArray(value) || !value.every((x) => typeof x === "string")) throw fail([key], "expected a list of strings");
        const flag = key === "capAdd" ? "--cap-add" : "--security-opt";
        const problem = applyRunArgs(value.flatMap((x) => [flag, x]), dc.container, input.localEnv);
        if (problem) throw fail([key, problem.index >> 1], problem.message.replace(`runArgs '${flag} `, `'`));
        break;
      }
      case "mounts": {
        if (!Array.isArray(value)) throw fail([key], "expected a list of mounts");
        value.forEach((m, i) => {
          const mount = parseMount(m);
          if (typeof mount === "string") throw fail([key, i], mount);
          dc.container.mounts.push(mount);
        });
        break;
      }
      case "workspaceFolder":
        break; // above
      case "workspaceMount": {
        // Only the mount Nexus makes anyway: the worktree at workspaceFolder.
        const mount = typeof value === "string" ? parseMount(value) : undefined;
        const same = mount && typeof mount !== "string" && mount.type === "bind" && resolve(mount.source!) === resolve(input.root) && mount.target === workspaceFolder;
        if (!same) throw fail([key], `not supported: Nexus mounts the workspace's worktree itself (at /workspace and at workspaceFolder); only 'source=\${localWorkspaceFolder},target=<workspaceFolder>,type=bind' can be written here`);
        break;
      }
      case "remoteUser":
      case "containerUser":
        if (typeof value !== "string" || value === "") throw fail([key], "expected a user name");
        if (value !== "nexus") dc.notes.push(`${key} '${value}': commands run as the workspace user 'nexus', who has your uid (sudo needs 'sudo: true' in .nexus/workspace.yaml)`);
        break;
      case "hostRequirements":
        dc.hostRequirements = hostRequirements(value, fail);
        break;
      case "shutdownAction":
        if (value === "stopCompose") throw fail([key], `not supported: ${COMPOSE}`);
        if (value !== "none" && value !== "stopContainer") throw fail([key], "expected none or stopContainer");
        if (value === "stopContainer") dc.notes.push("shutdownAction 'stopContainer': a workspace outlives the tool that opened it; 'nexus stop' or the idle timeout stops it");
        break;
      case "initializeCommand": {
        const got = lifecycleSteps(key, value, 0);
        if ("problem" in got) throw fail(got.problem.path, got.problem.message);
        dc.initialize = got.steps.map((s) => ({ ...s, cwd: input.root }));
        break;
      }
      case "onCreateCommand":
      case "updateContentCommand":
      case "postCreateCommand":
      case "postStartCommand":
      case "postAttachCommand": {
        const got = lifecycleSteps(key, value, 1);
        if ("problem" in got) throw fail(got.problem.path, got.problem.message);
        if (got.steps.length > 0) layer.hooks[LIFECYCLE_HOOKS[key]] = got.steps.map((s) => ({ ...s, cwd: workspaceFolder }));
        break;
      }
      case "waitFor": {
        const hook = typeof value === "string" ? (LIFECYCLE_HOOKS as Record<string, HookName>)[value] : undefined;
        if (!hook || value === "postAttachCommand") throw fail([key], "expected onCreateCommand, updateContentCommand, postCreateCommand or postStartCommand");
        dc.waitFor = hook;
        break;
      }
      case "features": {
        const got = resolveFeatures(value, file);
        if ("problem" in got) throw fail(got.problem.path, got.problem.message);
        dc.features = got.features;
        break;
      }
      case "overrideFeatureInstallOrder":
        break; // below, once features are known
      default:
        if (DESCRIPTIVE.has(key)) break;
        throw fail([key], `unknown key '${key}'`);
    }
  }

  // Variables a feature sets are the container's too.
  for (const f of dc.features) dc.container.env = { ...f.containerEnv, ...dc.container.env };
  if (c.overrideFeatureInstallOrder !== undefined) {
    const order = c.overrideFeatureInstallOrder;
    if (!Array.isArray(order) || !order.every((x) => typeof x === "string")) throw fail(["overrideFeatureInstallOrder"], "expected a list of feature references");
    const rank = (f: LocalFeature) => {
      const i = (order as string[]).indexOf(f.ref);
      return i < 0 ? order.length : i;
    };
    dc.features.sort((a, b) => rank(a) - rank(b));
  }
  const remoteEnv = c.remoteEnv === undefined ? undefined : envMap(["remoteEnv"], c.remoteEnv, true);
  // The container's variables reach exec, console, hooks and services too (as they would in `docker exec`); remoteEnv only those.
  if (remoteEnv !== undefined || Object.keys(dc.container.env).length > 0) layer.env = { ...dc.container.env, ...remoteEnv };

  build(c, layer, configDir, input.root, fail);
  if (layer.image === undefined && layer.dockerfile === undefined) {
    throw fail([], "expected image or build.dockerfile (a devcontainer.json without either uses Docker Compose, which is not supported)");
  }
  if (workspaceFolder !== DEFAULT_WORKSPACE_FOLDER) {
    const clash = ["/home/nexus", "/etc", "/usr", "/bin", "/"].find((p) => workspaceFolder === p || (p !== "/" && workspaceFolder.startsWith(p + "/")));
    if (clash) throw fail(["workspaceFolder"], `${workspaceFolder} is a system folder; pick a folder such as /workspaces/<name>`);
  }
  return layer;
}

function build(c: Record<string, unknown>, layer: DevcontainerLayer, configDir: string, root: string, fail: (path: JsonPath, message: string) => NexusError): void {
  const legacy = c.dockerFile !== undefined || c.context !== undefined;
  if (c.build === undefined && !legacy) return;
  if (c.build !== undefined && legacy) throw fail(["dockerFile"], "set build.dockerfile and build.context, not the older top-level dockerFile and context as well");
  const b = (c.build ?? { dockerfile: c.dockerFile, context: c.context }) as Record<string, unknown>;
  const at = (k: string): JsonPath => (c.build !== undefined ? ["build", k] : [k === "dockerfile" ? "dockerFile" : k]);
  if (b === null || typeof b !== "object" || Array.isArray(b)) throw fail(["build"], "expected an object {dockerfile, context, args, target}");
  for (const k of Object.keys(b)) {
    if (k === "options") {
      if (Array.isArray(b.options) && b.options.length === 0) continue;
      throw fail(["build", k], "not supported: extra 'docker build' flags are not passed on; use args and target");
    }
    if (k === "cacheFrom") {
      layer.devcontainer.notes.push("build.cacheFrom is not used: it needs a registry, and Nexus builds offline");
      continue;
    }
    if (!["dockerfile", "dockerFile", "context", "args", "target"].includes(k)) throw fail(["build", k], `unknown key '${k}'`);
  }
  const dockerfile = b.dockerfile ?? b.dockerFile;
  if (dockerfile === undefined) {
    if (b.context !== undefined || b.args !== undefined || b.target !== undefined) throw fail(["build"], "build needs a dockerfile");
    return;
  }
  if (typeof dockerfile !== "string" || dockerfile.trim() === "") throw fail(at("dockerfile"), "expected a path (relative to the folder of devcontainer.json)");
  if (layer.image !== undefined) throw fail(at("dockerfile"), "set either image or build.dockerfile, not both");
  // The spec takes both paths from the folder holding devcontainer.json.
  const path = resolve(configDir, dockerfile);
  // Inside the repository, a regular file, reached without a symlink out (the worktree is the workspace's to change).
  if (!isUntrustedRegularFile(root, path)) throw fail(at("dockerfile"), `no such file: ${path} (paths are relative to ${configDir}, inside the repository)`);
  const context = resolve(configDir, b.context === undefined ? "." : String(b.context));
  if (b.context !== undefined && (typeof b.context !== "string" || !existsSync(context) || !statSync(context).isDirectory() || relative(root, context).startsWith(".."))) {
    throw fail(at("context"), `no such folder: ${context} (paths are relative to ${configDir}, inside the repository)`);
  }
  const args: Record<string, string> = {};
  if (b.args !== undefined) {
    if (b.args === null || typeof b.args !== "object" || Array.isArray(b.args)) throw fail(at("args"), "expected an object of build arguments");
    for (const [k, v] of Object.entries(b.args)) {
      if (typeof v !== "string") throw fail([...at("args"), k], "expected a string");
      args[k] = v;
    }
  }
  if (b.target !== undefined && (typeof b.target !== "string" || b.target === "")) throw fail(at("target"), "expected a build stage name");
  layer.dockerfile = path;
  layer.build = { context, args, ...(b.target ? { target: b.target as string } : {}) };
}

function portOf(key: string, p: unknown, path: JsonPath, fail: (path: JsonPath, message: string) => NexusError, notes: string[]): number {
  const check = (n: number) => {
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw fail(path, "expected a port from 1 to 65535");
    if (n === 22) throw fail(path, "port 22 is the workspace's SSH port");
    return n;
  };
  if (typeof p === "number") return check(p);
  if (typeof p !== "string") throw fail(path, key === "appPort" ? "expected a port number or 'host:container'" : "expected a port number or 'host:port'");
  const parts = p.split(":");
  if (key === "appPort") {
    // Docker's -p forms: "8080:80", "127.0.0.1:8080:80"; Nexus picks the host port itself.
    if (parts.length < 1 || parts.length > 3 || !parts.every((x) => /^[\w.]*$/.test(x))) throw fail(path, "expected a port number or 'host:container'");
    const port = check(Number(parts.at(-1)));
    if (parts.length > 1) notes.push(`appPort '${p}': container port ${port} is published on 127.0.0.1 at a port Nexus picks (see 'nexus status')`);
    return port;
  }
  if (parts.length !== 2 || !/^\d+$/.test(parts[1]!)) throw fail(path, "expected a port number or 'host:port'");
  const host = parts[0]!;
  if (!["localhost", "127.0.0.1", "0.0.0.0", ""].includes(host)) {
    throw fail(path, `'${p}' forwards a port of another host ('${host}', a Docker Compose service): ${COMPOSE}`);
  }
  return check(Number(parts[1]));
}

function portNames(value: unknown, fail: (path: JsonPath, message: string) => NexusError): Record<number, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw fail(["portsAttributes"], "expected an object of port attributes");
  const names: Record<number, string> = {};
  const known = new Set(["label", "onAutoForward", "elevateIfNeeded", "requireLocalPort", "protocol"]);
  for (const [port, attrs] of Object.entries(value)) {
    if (attrs === null || typeof attrs !== "object" || Array.isArray(attrs)) throw fail(["portsAttributes", port], "expected an object such as {label}");
    const odd = Object.keys(attrs).find((k) => !known.has(k));
    if (odd) throw fail(["portsAttributes", port, odd], `unknown key '${odd}'`);
    const label = (attrs as { label?: unknown }).label;
    if (label !== undefined && typeof label !== "string") throw fail(["portsAttributes", port, "label"], "expected a string");
    // Ranges and patterns describe ports found later (auto-forwarding); only single ports get a name.
    if (/^\d+$/.test(port) && typeof label === "string" && label.trim() !== "") names[Number(port)] = portName(label);
  }
  return names;
}

/** A label ("Web App") as a port name ("web-app"), the shape of service names. */
export function portName(label: string): string {
  return label.toLowerCase().replace(/[^a-z0-9_]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63) || "port";
}

function hostRequirements(value: unknown, fail: (path: JsonPath, message: string) => NexusError): HostRequirements {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw fail(["hostRequirements"], "expected an object {cpus, memory, storage, gpu}");
  const out: HostRequirements = {};
  for (const [k, v] of Object.entries(value)) {
    const at = ["hostRequirements", k];
    if (k === "cpus") {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 1) throw fail(at, "expected a whole number of CPUs");
      out.cpus = v;
    } else if (k === "memory" || k === "storage") {
      const size = typeof v === "string" ? parseSize(v) : undefined;
      if (size === undefined) throw fail(at, "expected a size such as 4gb");
      out[k] = size;
    } else if (k === "gpu") {
      if (v !== true && v !== false && v !== "optional" && (v === null || typeof v !== "object")) throw fail(at, "expected true, false, optional or {cores, memory}");
      out.gpu = v === "optional" ? "optional" : v !== false;
    } else {
      throw fail(at, `unknown key '${k}'`);
    }
  }
  return out;
}

