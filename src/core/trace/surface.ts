// Which door an operation came in through: each transport runs its handler inside `withSurface`,
// and the recorder (at the core's façades) reads it back. AsyncLocalStorage follows the handler's
// awaits, so nothing has to pass the surface down by hand; Bun and Deno both provide it.
import { AsyncLocalStorage } from "node:async_hooks";
import type { TraceSurface } from "../../kernel/trace.ts";

const current = new AsyncLocalStorage<TraceSurface>();

export function withSurface<T>(surface: TraceSurface, fn: () => T): T {
  return current.run(surface, fn);
}

/** The surface of the running handler; "daemon" for work the daemon starts itself (idle checks, reconcile). */
export function currentSurface(): TraceSurface {
  return current.getStore() ?? "daemon";
}

export { CLIENT_HEADER } from "../../kernel/trace.ts";
