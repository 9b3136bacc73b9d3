// Lifecycle commands as the spec writes them ("lifecycle scripts"): a string runs in a shell, an
// array is one program with its arguments (no shell), an object holds named commands (each a string
// or an array) that run in parallel. They become hook steps, so they get the hooks' logs and timeouts.
import { shellLine } from "../../ssh/quote.ts";
import type { HookStep } from "../project-types.ts";
import type { JsonPath } from "./jsonc.ts";

/** Long enough for the installs these usually run (npm ci, pip install); workspace.yaml can set its own. */
export const LIFECYCLE_TIMEOUT_SECONDS = 1800;

export type CommandProblem = { path: JsonPath; message: string };

/** The steps of one lifecycle command; `problem` when the value is none of the three forms. */
export function lifecycleSteps(key: string, value: unknown, batch: number): { steps: HookStep[] } | { problem: CommandProblem } {
  if (typeof value === "string" || Array.isArray(value)) {
    const command = oneCommand(value);
    if (command === undefined) return { problem: { path: [key], message: "expected a command: a string, a list of strings, or an object of named commands" } };
    return { steps: command === "" ? [] : [step(key, command)] };
  }
  if (value !== null && typeof value === "object") {
    const steps: HookStep[] = [];
    for (const [name, entry] of Object.entries(value)) {
      const command = oneCommand(entry);
      if (command === undefined) return { problem: { path: [key, name], message: "expected a string or a list of strings" } };
      if (name.trim() === "") return { problem: { path: [key, name], message: "expected a non-empty name" } };
      if (command !== "") steps.push({ ...step(name, command), batch });
    }
    return { steps };
  }
  return { problem: { path: [key], message: "expected a command: a string, a list of strings, or an object of named commands" } };
}

/** A shell line for the step runner (`bash -lc`); an array is exec'd with every word quoted, so no shell reads it. */
function oneCommand(value: unknown): string | undefined {
  if (typeof value === "string") return value.trim() === "" ? "" : value;
  if (Array.isArray(value) && value.every((w) => typeof w === "string")) {
    return value.length === 0 ? "" : `exec ${shellLine(value as string[])}`;
  }
  return undefined;
}

function step(name: string, command: string): HookStep {
  return { name, command, env: {}, timeoutSeconds: LIFECYCLE_TIMEOUT_SECONDS };
}
