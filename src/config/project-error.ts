import { NexusError } from "../kernel/errors.ts";

/** A project configuration error naming the file, the line and the key, as every source reports them. */
export function invalidProject(file: string, message: string, line?: number, key?: string): NexusError {
  const where = `${file}${line ? `:${line}` : ""}`;
  return new NexusError("INVALID_ARGUMENT", `Invalid project configuration: ${where}: ${key ? `${key}: ` : ""}${message}`, {
    suggestion: `Fix ${file}${line ? ` at line ${line}` : ""}`,
    details: { file, ...(line ? { line } : {}), ...(key ? { key } : {}) },
  });
}
