// The daemon hands memory back once destroys settle: one release for a burst of destroys, none for
// other status changes, none after it stops listening.
import { describe, expect, test } from "bun:test";
import { EventBus } from "../../src/core/events.ts";
import { releaseMemoryAfterDestroys } from "../../src/daemon/memory.ts";
import { until } from "../helpers/wait.ts";

const status = (status: string) => ({ type: "workspace.status" as const, payload: { workspaceId: `ws-${status}`, status } });

describe("releaseMemoryAfterDestroys", () => {
  test("a burst of destroys is one release, after the burst", async () => {
    const events = new EventBus();
    let released = 0;
    const stop = releaseMemoryAfterDestroys(events, () => released++, 30);
    for (let i = 0; i < 20; i++) events.publish(status("destroyed"));
    expect(released).toBe(0);
    await until("one release after the burst", () => released, (n) => n === 1, { intervalMs: 5 });
    await new Promise((r) => setTimeout(r, 60));
    expect(released).toBe(1);
    stop();
  });

  test("other status changes release nothing; after stop, destroys release nothing", async () => {
    const events = new EventBus();
    let released = 0;
    const stop = releaseMemoryAfterDestroys(events, () => released++, 10);
    events.publish(status("running"));
    events.publish(status("stopped"));
    events.publish({ type: "workspace.stats", payload: { workspaceId: "w", status: "destroyed" } });
    await new Promise((r) => setTimeout(r, 50));
    expect(released).toBe(0);
    events.publish(status("destroyed"));
    stop();
    await new Promise((r) => setTimeout(r, 50));
    expect(released).toBe(0);
  });
});
