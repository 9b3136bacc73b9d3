import { describe, expect, test } from "bun:test";
import { EventBus, type WorkspaceEvent } from "../../src/core/events.ts";
import { lineLogger } from "../../src/core/log.ts";

const ev = (id: string): WorkspaceEvent => ({ type: "workspace.status", payload: { workspaceId: id, status: "running" } });

describe("EventBus", () => {
  test("delivers to every subscriber, in order", () => {
    const bus = new EventBus();
    const a: string[] = [];
    const b: string[] = [];
    bus.subscribe((e) => a.push(e.payload.workspaceId));
    bus.subscribe((e) => b.push(e.payload.workspaceId));
    bus.publish(ev("1"));
    bus.publish(ev("2"));
    expect(a).toEqual(["1", "2"]);
    expect(b).toEqual(["1", "2"]);
  });

  test("unsubscribe stops delivery", () => {
    const bus = new EventBus();
    const got: string[] = [];
    const off = bus.subscribe((e) => got.push(e.payload.workspaceId));
    bus.publish(ev("1"));
    off();
    bus.publish(ev("2"));
    expect(got).toEqual(["1"]);
  });

  test("a throwing subscriber breaks neither the publisher nor the others", () => {
    const bus = new EventBus();
    const got: string[] = [];
    bus.subscribe(() => {
      throw new Error("bad listener");
    });
    bus.subscribe((e) => got.push(e.payload.workspaceId));
    expect(() => bus.publish(ev("1"))).not.toThrow();
    expect(got).toEqual(["1"]);
  });

  test("publishing with no subscribers is fine", () => {
    expect(() => new EventBus().publish(ev("x"))).not.toThrow();
  });
});

describe("lineLogger", () => {
  test("writes one timestamped line per message with its level", () => {
    const lines: string[] = [];
    const log = lineLogger((l) => lines.push(l));
    log.info("hello");
    log.warn("careful");
    log.error("broken");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO hello\n$/);
    expect(lines[1]).toEndWith(" WARN careful\n");
    expect(lines[2]).toEndWith(" ERROR broken\n");
  });
});
