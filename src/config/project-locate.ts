// Where a key is written in a layer's file (its line, the key as messages name it), and the errors
// that point there: every source's message names the file, the line and the key the same way.
import * as v from "valibot";
import { isMap, isScalar, isSeq, type Document, type LineCounter } from "yaml";
import type { NexusError } from "../kernel/errors.ts";
import { specificIssue } from "../kernel/issues.ts";
import { invalidProject } from "./project-error.ts";
import type { PathKey, ProjectLayer } from "./project-types.ts";

export function validate<S extends v.GenericSchema>(schema: S, raw: unknown, layer: ProjectLayer, expected: string): v.InferOutput<S> {
  // valibot's objects take arrays too (as keys "0", "1", ...), which would make a confusing message.
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw layerError(layer, [], expected);
  const result = v.safeParse(schema, raw);
  if (result.success) return result.output;
  // A misspelt key is also a missing one; the misspelling is what to fix.
  const issue = specificIssue(result.issues.find((i) => i.expected === "never") ?? result.issues[0]);
  const path = (issue.path ?? []).map((p) => p.key as PathKey);
  throw layerError(layer, path, describeIssue(issue, path));
}

function describeIssue(issue: v.BaseIssue<unknown>, path: PathKey[]): string {
  if (issue.expected === "never") return `unknown key '${String(path.at(-1))}'`;
  if (issue.received === "undefined" && /^".*"$/.test(issue.expected ?? "")) return `missing key ${issue.expected}`;
  return issue.message;
}

/** An error at `path`; only its first `keyDepth` parts are named as the key (the line still comes from all of it). */
export function layerError(layer: ProjectLayer, path: readonly PathKey[], message: string, keyDepth = path.length): NexusError {
  const { line } = layer.locate(path);
  const { key } = layer.locate(path.slice(0, keyDepth));
  return invalidProject(layer.file, message, line, key === "" ? "(top level)" : key);
}

/** The line where each key path is written: the key's own line for mapping entries, the item's for lists. */
export function lineLocator(doc: Document, lines: LineCounter): (path: readonly PathKey[]) => number | undefined {
  const lineAt = (node: unknown): number | undefined => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range ? lines.linePos(range[0]).line : undefined;
  };
  return (path) => {
    let node: unknown = doc.contents;
    let line = lineAt(node);
    for (const step of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(step));
        if (!pair) break;
        line = lineAt(pair.key) ?? lineAt(pair.value) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof step === "number" && node.items[step] !== undefined) {
        node = node.items[step];
        line = lineAt(node) ?? line;
      } else {
        break;
      }
    }
    return line;
  };
}

export function fileLocator(doc: Document, lines: LineCounter): ProjectLayer["locate"] {
  const lineOf = lineLocator(doc, lines);
  return (path) => ({ line: lineOf(path), key: path.join(".") });
}

export function keyOrder(doc: Document, path: PathKey[]): string[] {
  const node = doc.getIn(path, true);
  return isMap(node) ? node.items.map((p) => String(isScalar(p.key) ? p.key.value : p.key)) : [];
}
