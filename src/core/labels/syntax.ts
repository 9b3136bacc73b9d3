// Workspace labels as Kubernetes spells them: a key is an optional DNS-subdomain prefix and '/' and a
// name of at most 63 characters; a value is empty or at most 63 characters of the same alphabet. Keeping
// Kubernetes' rules means a selector a user already knows from kubectl reads the same here.
import { errors } from "../../kernel/errors.ts";

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** More labels than this on one workspace is a mistake, not a use. */
export const MAX_LABELS = 64;

/** Why `key` is not a label key, or undefined when it is one. */
export function labelKeyProblem(key: string): string | undefined {
  if (key === "") return "a label key must not be empty";
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix === "" || prefix.length > 253 || !PREFIX.test(prefix)) return `label key '${key}': the prefix before '/' must be a DNS subdomain of at most 253 characters (lowercase letters, digits, '-' and '.')`;
  }
  if (name === "") return `label key '${key}': the name after '/' must not be empty`;
  if (name.length > 63) return `label key '${key}': the name must be at most 63 characters`;
  if (!NAME.test(name)) return `label key '${key}': the name must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit`;
  return undefined;
}

/** Why `value` is not a label value, or undefined when it is one. */
export function labelValueProblem(key: string, value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63) return `label '${key}': the value must be at most 63 characters`;
  if (!NAME.test(value)) return `label '${key}': the value '${value}' must be letters, digits, '-', '_' and '.', starting and ending with a letter or digit (or empty)`;
  return undefined;
}

/** Why `labels` cannot be a workspace's labels, or undefined. */
export function labelsProblem(labels: Record<string, string>): string | undefined {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) return `at most ${MAX_LABELS} labels per workspace`;
  for (const [k, v] of entries) {
    const p = labelKeyProblem(k) ?? labelValueProblem(k, v);
    if (p) return p;
  }
  return undefined;
}

/** `--label k=v` arguments as a map; a repeated key is refused (which one was meant?). */
export function parseLabelArgs(args: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const arg of args) {
    const i = arg.indexOf("=");
    if (i <= 0) throw errors.invalidArgument(`'${arg}' is not a label KEY=VALUE`, "Pass labels as --label team=web (repeatable)", { field: "labels" });
    const key = arg.slice(0, i);
    const value = arg.slice(i + 1);
    if (key in labels) throw errors.invalidArgument(`label '${key}' is given twice`, "Give each label key once", { field: "labels" });
    const p = labelKeyProblem(key) ?? labelValueProblem(key, value);
    if (p) throw errors.invalidArgument(`Invalid label: ${p}`, "Labels follow Kubernetes' rules, e.g. --label team=web or --label example.com/tier=backend", { field: "labels" });
    labels[key] = value;
  }
  return labels;
}
