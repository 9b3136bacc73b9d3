import { existsSync, readFileSync } from "node:fs";
import * as v from "valibot";
import { LineCounter, parseDocument, isNode } from "yaml";
import { NexusError } from "../core/errors.ts";
import { specificIssue } from "../core/issues.ts";
import { ConfigSchema, type NexusConfig } from "./schema.ts";

/** Parses config text; errors name the file, the line and the key. */
export function parseConfig(text: string, file: string): NexusConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
    throw invalidConfig(`${file}${line ? `:${line}` : ""}: ${e.message.split("\n")[0]}`, file, line);
  }
  const raw = doc.toJS() ?? {};
  const result = v.safeParse(ConfigSchema, raw);
  if (result.success) return result.output;
  const issue = specificIssue(result.issues[0]);
  const path = (issue.path ?? []).map((p) => p.key as string | number);
  const node = path.length > 0 ? doc.getIn(path, true) ?? doc.getIn(path.slice(0, -1), true) : undefined;
  const line = isNode(node) && node.range ? lines.linePos(node.range[0]).line : undefined;
  const key = path.join(".") || "(top level)";
  throw invalidConfig(`${file}${line ? `:${line}` : ""}: ${key}: ${issue.message}`, file, line, key);
}

export function loadConfig(file: string): NexusConfig {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  return parseConfig(text, file);
}

function invalidConfig(message: string, file: string, line?: number, key?: string): NexusError {
  return new NexusError("INVALID_ARGUMENT", `Invalid configuration: ${message}`, {
    suggestion: `Fix ${file}${line ? ` at line ${line}` : ""}; 'nexus doctor' checks it`,
    details: { file, ...(line ? { line } : {}), ...(key ? { key } : {}) },
  });
}
