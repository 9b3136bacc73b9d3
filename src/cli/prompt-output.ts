// Where the interactive prompts (@clack/prompts) draw. A terminal that reports no size (0 columns
// and rows: `script` without a terminal around it, some CI ptys) would have clack wrap its text at
// zero width, one character per line; there it draws at 80×24, as a terminal of unknown size is taken to be.
import type { Writable } from "node:stream";

const FALLBACK = { columns: 80, rows: 24 } as const;

type Sized = Writable & { columns?: number; rows?: number };

/** `out` (stdout by default), with 80 columns and 24 rows where it reports none. */
export function promptOutput(out: Sized = process.stdout): Writable {
  if (isSize(out.columns) && isSize(out.rows)) return out;
  return new Proxy(out, {
    get(target, prop) {
      if (prop === "columns" || prop === "rows") {
        const given = target[prop];
        return isSize(given) ? given : FALLBACK[prop];
      }
      const value = Reflect.get(target, prop, target) as unknown;
      // Bound to the stream itself: its methods keep private state a Proxy as `this` could not reach.
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function isSize(n: number | undefined): n is number {
  return typeof n === "number" && n > 0;
}
