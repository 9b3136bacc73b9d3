import { errors } from "./errors.ts";

/** Names become branch, path, container and DNS-ish names, hence the narrow alphabet. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function checkWorkspaceName(name: unknown): string {
  if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
    throw errors.invalidArgument(
      `Invalid workspace name '${String(name)}'`,
      "Use 1-63 lowercase letters, digits and '-', starting with a letter or digit (e.g. 'feature-auth')",
      { name: String(name), pattern: NAME_PATTERN.source },
    );
  }
  return name;
}
