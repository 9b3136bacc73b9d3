// Dev Container Features. Those published to an OCI registry (ghcr.io/...) or as tarball URLs need
// the network to fetch, which Nexus does not do while creating a workspace; local features (a
// `./name` folder beside devcontainer.json, per the spec) are installed offline: their install.sh
// runs as root in an image layer, with the options as environment variables.
import { existsSync, statSync } from "node:fs";
import { readUntrustedFileSync } from "../../fs/untrusted-files.ts";
import { dirname, join, relative, resolve, sep } from "node:path";
import { parseJsonc } from "./jsonc.ts";

export interface LocalFeature {
  /** As written in devcontainer.json (`./node-tools`). */
  ref: string;
  /** The feature folder, absolute. */
  dir: string;
  id: string;
  /** Options as install.sh receives them: names upper-cased, values as strings. */
  options: Record<string, string>;
  /** The feature's containerEnv (ENV in the image). */
  containerEnv: Record<string, string>;
}

export type FeatureProblem = { path: Array<string | number>; message: string };

/** Keys of devcontainer-feature.json that Nexus reads or that only describe the feature. */
const FEATURE_KEYS = new Set([
  "id", "version", "name", "description", "documentationURL", "licenseURL", "keywords", "options", "containerEnv",
  "installsAfter", "dependsOn", "legacyIds", "deprecated", "customizations", "$schema",
]);

/** Resolves `features`; registry features are answered with one error naming them all. */
export function resolveFeatures(features: unknown, configFile: string): { features: LocalFeature[] } | { problem: FeatureProblem } {
  if (features === null || typeof features !== "object" || Array.isArray(features)) {
    return { problem: { path: ["features"], message: "expected an object of feature references and their options" } };
  }
  const configDir = dirname(configFile);
  const remote = Object.keys(features).filter((ref) => !ref.startsWith("./") && !ref.startsWith("../"));
  if (remote.length > 0) {
    const names = remote.map((r) => `'${r}'`).join(", ");
    return {
      problem: {
        path: ["features", remote[0]!],
        message:
          `${names} ${remote.length === 1 ? "is a feature" : "are features"} from a registry, which Nexus cannot fetch (it installs only local './folder' features, offline); ` +
          "install what it provides in a Dockerfile (build.dockerfile), or give .nexus/workspace.yaml an image or dockerfile that has it",
      },
    };
  }
  const out: LocalFeature[] = [];
  for (const [ref, value] of Object.entries(features)) {
    const dir = resolve(configDir, ref);
    // The spec keeps local features inside the folder of devcontainer.json.
    if (relative(configDir, dir).startsWith("..") || dir === configDir) {
      return { problem: { path: ["features", ref], message: `a local feature must be a folder inside ${configDir}` } };
    }
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return { problem: { path: ["features", ref], message: `no feature folder at ${dir}` } };
    if (!existsSync(join(dir, "install.sh"))) return { problem: { path: ["features", ref], message: `the feature ${dir} has no install.sh` } };
    const metaFile = join(dir, "devcontainer-feature.json");
    if (!existsSync(metaFile)) return { problem: { path: ["features", ref], message: `the feature ${dir} has no devcontainer-feature.json` } };
    let meta: Record<string, unknown>;
    try {
      // The feature folder is inside the repository: read as the workspace's files are (no symlink out, size-capped).
      meta = parseJsonc(readUntrustedFileSync(configDir, metaFile) ?? "").value as Record<string, unknown>;
    } catch (err) {
      return { problem: { path: ["features", ref], message: `${metaFile}: ${(err as Error).message}` } };
    }
    if (meta === null || typeof meta !== "object" || typeof meta.id !== "string") {
      return { problem: { path: ["features", ref], message: `${metaFile} needs an "id"` } };
    }
    const odd = Object.keys(meta).find((k) => !FEATURE_KEYS.has(k));
    if (odd) {
      return { problem: { path: ["features", ref], message: `${metaFile}: '${odd}' is not supported for features (Nexus installs a feature's install.sh with its options and containerEnv)` } };
    }
    // A string value is the feature's `version` option; true means defaults.
    const given = typeof value === "string" ? { version: value } : value === true ? {} : value;
    if (given === null || typeof given !== "object" || Array.isArray(given)) {
      return { problem: { path: ["features", ref], message: "expected an object of options, a version string or true" } };
    }
    const declared = (meta.options ?? {}) as Record<string, { default?: unknown }>;
    const options: Record<string, string> = {};
    for (const [name, spec] of Object.entries(declared)) if (spec?.default !== undefined) options[optionEnvName(name)] = String(spec.default);
    for (const [name, v] of Object.entries(given as Record<string, unknown>)) {
      if (!(name in declared) && !(name === "version" && typeof value === "string")) {
        return { problem: { path: ["features", ref, name], message: `the feature '${meta.id}' has no option '${name}' (it has: ${Object.keys(declared).join(", ") || "none"})` } };
      }
      options[optionEnvName(name)] = String(v);
    }
    const containerEnv = (meta.containerEnv ?? {}) as Record<string, string>;
    out.push({ ref, dir: dir.split(sep).join("/"), id: meta.id, options, containerEnv });
  }
  return { features: out };
}

/** The spec's option name → environment variable: non-word characters to `_`, no leading digit, upper case. */
export function optionEnvName(name: string): string {
  return name.replace(/[^\w_]/g, "_").replace(/^[\d_]+/g, "_").toUpperCase();
}
