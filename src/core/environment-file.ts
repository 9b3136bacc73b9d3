// /etc/environment in the container: every SSH session (exec, console, hooks, services) gets it
// through pam_env. pam_env reads `KEY="value"` by dropping the quote after `=` and the last one of the
// line, and interprets nothing in between, so any value without a newline arrives exactly as written
// (quotes, `$`, backslashes, JSON). A newline cannot be written at all.
import { NexusError } from "./errors.ts";

export function environmentFile(env: Record<string, string>): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (/[\r\n]/.test(v)) {
      throw new NexusError("INVALID_ARGUMENT", `The environment variable ${k} holds a line break, which the workspace's environment cannot carry`, {
        suggestion: "Keep environment values on one line (write multi-line values to a file and point a variable at it)",
        details: { variable: k },
      });
    }
    lines.push(`${k}="${v}"`);
  }
  return lines.join("\n") + "\n";
}
