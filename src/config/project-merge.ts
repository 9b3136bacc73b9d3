// The layers of a project's configuration merged into one, with the checks only the whole can make:
// the Dockerfile exists inside the repository, services depend on known ones and on no cycle.
import { isAbsolute, resolve } from "node:path";
import type { NexusError } from "../kernel/errors.ts";
import { isUntrustedRegularFile } from "../fs/untrusted-files.ts";
import { HOOK_NAMES } from "./schema.ts";
import { layerError } from "./project-locate.ts";
import type { ProjectConfig, ProjectLayer, ServiceDefinition } from "./project-types.ts";

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
