// Keys a configuration file names that the schema does not know. They are taken out before the
// schema reads the file, so an older binary still starts with a newer file (or one with a typo),
// and reported with the file, line and key: a warning at load, an error under `nexus config validate`.
import { isMap, isScalar, type Document, type LineCounter } from "yaml";

/** The shape of valibot's schema objects that the walk reads. */
interface SchemaNode {
  type: string;
  wrapped?: SchemaNode;
  entries?: Record<string, SchemaNode>;
  item?: SchemaNode;
  value?: SchemaNode;
  options?: SchemaNode[];
  key?: string | SchemaNode;
  literal?: unknown;
}

export interface UnknownKey {
  file: string;
  line?: number;
  /** Dotted path, as `nexus config get` takes it. */
  key: string;
}

function unwrap(node: SchemaNode): SchemaNode {
  let n = node;
  while ((n.type === "optional" || n.type === "nullable" || n.type === "nullish") && n.wrapped) n = n.wrapped;
  return n;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

/** The object branch of a union or variant that `raw` is meant for, if one can be told. */
function branchFor(node: SchemaNode, raw: Record<string, unknown>): SchemaNode | undefined {
  const objects = (node.options ?? []).map(unwrap).filter((o) => o.entries);
  if (node.type === "variant" && typeof node.key === "string") {
    const k = node.key;
    return objects.find((o) => unwrap(o.entries![k]!).literal === raw[k]);
  }
  return objects.length === 1 ? objects[0] : undefined;
}

/** Paths in `raw` that `schema` does not name. Records (workspaces.<name>) take any key, their values are walked. */
export function unknownKeyPaths(schema: unknown, raw: unknown): string[][] {
  const out: string[][] = [];
  const walk = (node: SchemaNode, value: unknown, path: string[]) => {
    let s = unwrap(node);
    // A union of a scalar and a list (hooks: a command or a list of steps): the list branch.
    if (s.options && Array.isArray(value)) s = s.options.map(unwrap).find((o) => o.type === "array") ?? s;
    if (s.type === "array" && s.item && Array.isArray(value)) {
      value.forEach((item, i) => walk(s.item!, item, [...path, String(i)]));
      return;
    }
    if (!isObject(value)) return;
    if (s.type === "record" && s.value) {
      for (const [k, child] of Object.entries(value)) walk(s.value, child, [...path, k]);
      return;
    }
    const obj = s.entries ? s : s.options ? branchFor(s, value) : undefined;
    if (!obj?.entries) return;
    for (const [k, child] of Object.entries(value)) {
      const entry = obj.entries[k];
      if (entry) walk(entry, child, [...path, k]);
      else out.push([...path, k]);
    }
  };
  walk(schema as SchemaNode, raw, []);
  return out;
}

/** The unknown keys of a parsed file with their lines, and the file's value without them. */
export function takeUnknownKeys(schema: unknown, raw: unknown, doc: Document, lines: LineCounter, file: string): { unknown: UnknownKey[]; known: unknown } {
  const paths = unknownKeyPaths(schema, raw);
  if (paths.length === 0) return { unknown: [], known: raw };
  const known = structuredClone(raw);
  const unknown = paths.map((path): UnknownKey => {
    const line = keyLine(doc, lines, path);
    return { file, ...(line ? { line } : {}), key: path.join(".") };
  });
  for (const path of paths) {
    let cur: unknown = known;
    for (const p of path.slice(0, -1)) cur = (cur as Record<string, unknown>)[p];
    if (isObject(cur)) delete cur[path[path.length - 1]!];
  }
  return { unknown, known };
}

/** The line of a key itself (not of its value). */
function keyLine(doc: Document, lines: LineCounter, path: string[]): number | undefined {
  const parentPath = path.slice(0, -1).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  const parent = parentPath.length > 0 ? doc.getIn(parentPath, true) : doc.contents;
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === path[path.length - 1]);
  const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
  return range ? lines.linePos(range[0]).line : undefined;
}

export function formatUnknownKey(u: UnknownKey): string {
  return `${u.file}${u.line ? `:${u.line}` : ""}: ${u.key}: unknown key (ignored)`;
}
