import type { Runtime } from "./types.ts";

export type { Runtime, Server, FetchHandler, WebSocketSupport } from "./types.ts";
export { WS_MAX_FRAME_BYTES } from "./types.ts";

/** The runtime adapter for where this code runs; loaded on demand so nothing happens at import. */
export async function currentRuntime(): Promise<Runtime> {
  if ("Deno" in globalThis) return (await import("./deno.ts")).denoRuntime;
  if ("Bun" in globalThis) return (await import("./bun.ts")).bunRuntime;
  throw new Error("nexus runs on Bun or Deno");
}
