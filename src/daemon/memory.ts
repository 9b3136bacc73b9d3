// The daemon's size follows what it holds: once workspaces are destroyed (and nothing else has been
// destroyed for a moment), one full collection hands the memory they used back to the system.
// Without it the collector, seeing no pressure, kept ~10 MB more after 20 workspaces came and went
// (bench/memory.ts). Debounced: 20 destroys in a row cost one collection, off every request's path.
import type { EventBus } from "../core/events.ts";

export const RELEASE_AFTER_MS = 1500;

export function releaseMemoryAfterDestroys(events: EventBus, release: () => void, delayMs = RELEASE_AFTER_MS): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const unsubscribe = events.subscribe((e) => {
    if (e.type !== "workspace.status" || e.payload.status !== "destroyed") return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      release();
    }, delayMs);
    // A pending collection never keeps a stopping daemon alive.
    (timer as { unref?: () => void }).unref?.();
  });
  return () => {
    clearTimeout(timer);
    unsubscribe();
  };
}
