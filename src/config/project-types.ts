// The shapes of a project's workspace configuration: one layer per source file, and their merge.
import type { HookName } from "./schema.ts";
import type { BuildOptions, DevcontainerSettings } from "./devcontainer/layer.ts";

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

/** What a layer and the merged configuration both say, in the same words. */
interface ProjectSettings {
  image?: string;
  resources?: ResourcesSetting;
  /** sudo inside the workspace: off unless a layer says true. */
  sudo?: boolean;
  hooks: Partial<Record<HookName, HookStep[]>>;
  services: ServiceDefinition[];
  /** Build context, args and target of `dockerfile` (devcontainer.json's build). */
  build?: BuildOptions;
  /** Names of ports by container port (devcontainer.json's portsAttributes labels). */
  portNames?: Record<number, string>;
  /** What a devcontainer.json adds (container options, features, initializeCommand, ...), when one was read. */
  devcontainer?: DevcontainerSettings;
}

export interface ProjectConfig extends ProjectSettings {
  /** The files that contributed (absolute paths), for messages. */
  files: string[];
  /** Absolute path. */
  dockerfile?: string;
  ports: number[];
  env: Record<string, string>;
  /** Dependencies first; services that do not depend on each other keep their file order. */
  services: ServiceDefinition[];
  /** The file that set each key ("image", "ports", "env.NAME", "hooks.post-start", "services.web", ...). */
  sources: Record<string, string>;
  /** Keys a later file set again: `by` won over `file`. */
  overridden: Array<{ key: string; file: string; by: string }>;
}

export type PathKey = string | number;

/** One source of configuration, normalised but not yet checked against the other sources. */
export interface ProjectLayer extends ProjectSettings {
  file: string;
  /** Where a key path (as in the layer) is written: its line when known, and the key as messages name it. */
  locate: (path: readonly PathKey[]) => { line: number | undefined; key: string };
  /** As written: relative to the repository root. */
  dockerfile?: string;
  ports?: number[];
  env?: Record<string, string>;
}
