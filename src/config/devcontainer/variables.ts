// The Dev Container spec's variables (containers.dev, "Variables in devcontainer.json"), substituted
// in string values after the file is parsed — never in the text — so a value may hold quotes, `$`,
// newlines or JSON without any escaping, and a substituted value is not looked at again.
import { createHash } from "node:crypto";
import { basename } from "node:path";

export interface SubstitutionContext {
  /** The host environment (`${localEnv:NAME}`, also spelt `${env:NAME}`). */
  localEnv: Record<string, string | undefined>;
  /** The repository folder on the host (for Nexus: the workspace's worktree). */
  localWorkspaceFolder: string;
  /** Where that folder is in the container. */
  containerWorkspaceFolder: string;
  devcontainerId: string;
  /**
   * The container's environment, once it is known (image ENV plus containerEnv). Until then
   * `${containerEnv:NAME}` is left as written, to be substituted when the container exists.
   */
  containerEnv?: Record<string, string>;
}

// As the reference implementation: the shortest `${...}`, its name before the first colon.
const VARIABLE = /\$\{([^}]*)\}/g;

export function substitute(text: string, ctx: SubstitutionContext): string {
  return text.replace(VARIABLE, (match, inner: string) => {
    const [name, ...args] = inner.split(":");
    switch (name) {
      case "env":
      case "localEnv":
        return args[0] ? lookup(ctx.localEnv, args) : match;
      case "containerEnv":
        if (!args[0]) return match;
        return ctx.containerEnv ? lookup(ctx.containerEnv, args) : match;
      case "localWorkspaceFolder":
        return ctx.localWorkspaceFolder;
      case "localWorkspaceFolderBasename":
        return basename(ctx.localWorkspaceFolder);
      case "containerWorkspaceFolder":
        return ctx.containerWorkspaceFolder;
      case "containerWorkspaceFolderBasename":
        return basename(ctx.containerWorkspaceFolder);
      case "devcontainerId":
        return ctx.devcontainerId;
      default:
        // Unknown variables stay as written (the reference CLI does the same).
        return match;
    }
  });
}

// `${localEnv:NAME:default}`: a default may itself hold colons (a URL), so it is everything after the name.
function lookup(env: Record<string, string | undefined>, args: string[]): string {
  const value = env[args[0]!];
  if (value !== undefined) return value;
  return args.length > 1 ? args.slice(1).join(":") : "";
}

/** Every string in a parsed value (not its object keys) substituted. */
export function substituteDeep<T>(value: T, ctx: SubstitutionContext): T {
  if (typeof value === "string") return substitute(value, ctx) as T;
  if (Array.isArray(value)) return value.map((v) => substituteDeep(v, ctx)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, ctx)])) as T;
  }
  return value;
}

/**
 * `${devcontainerId}`: stable for one folder and config file, as the reference CLI computes it — a
 * SHA-256 of the identifying labels, written in base 32 and padded to 52 characters.
 */
export function devcontainerId(localWorkspaceFolder: string, configFile: string): string {
  const labels = { "devcontainer.config_file": configFile, "devcontainer.local_folder": localWorkspaceFolder };
  const hash = createHash("sha256").update(JSON.stringify(labels), "utf8").digest("hex");
  return BigInt(`0x${hash}`).toString(32).padStart(52, "0");
}
