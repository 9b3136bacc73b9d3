// devcontainer.json is JSON with comments and trailing commas (as VS Code reads it): parsed with
// jsonc-parser, keeping the syntax tree so that every message can name the line of the key it is about.
import { findNodeAtLocation, getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from "jsonc-parser";

export type JsonPath = ReadonlyArray<string | number>;

export interface JsoncDocument {
  value: unknown;
  /** The line (1-based) of the key at `path` (or of the item, for list entries); the nearest written ancestor's otherwise. */
  lineOf(path: JsonPath): number | undefined;
}

export class JsoncSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/** Parses JSONC text; a syntax error throws a JsoncSyntaxError with the line of the first error. */
export function parseJsonc(text: string): JsoncDocument {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  const starts = lineStarts(text);
  const lineAt = (offset: number) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  if (errors.length > 0 || root === undefined) {
    const e = errors[0];
    const message = e ? describe(printParseErrorCode(e.error)) : "the file is empty";
    throw new JsoncSyntaxError(`invalid JSON: ${message}`, e ? lineAt(e.offset) : 1);
  }
  return {
    value: getNodeValue(root),
    lineOf: (path) => {
      for (let n = path.length; n >= 0; n--) {
        const node = n === 0 ? root : findNodeAtLocation(root, path.slice(0, n) as (string | number)[]);
        if (!node) continue;
        // An object member's line is its key's, as messages name keys.
        const at: Node = node.parent?.type === "property" ? node.parent : node;
        return lineAt(at.offset);
      }
      return undefined;
    },
  };
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

// jsonc-parser names its errors in PascalCase ("CommaExpected"); messages read better in words.
function describe(code: string): string {
  return code.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}
