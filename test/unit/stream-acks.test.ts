// Back-pressure acks through the producers that split or re-cut output before their readers see it:
// service logs (a chunk becomes lines), StreamFile (chunks re-cut to chunk_size), the CLI's unwritten
// marks. Each must answer a promise while any reader of its piece is behind, and nothing otherwise.
// The SSH side pausing on such a promise is test/unit/output-pause.test.ts; end to end,
// test/e2e/backpressure-sources.test.ts.
import { describe, expect, test } from "bun:test";
import { Acks, waitAck } from "../../src/kernel/ack.ts";
import { rechunk } from "../../src/api/grpc/chunks.ts";
import { serviceLogs, type WorkspaceShell } from "../../src/core/services.ts";
import { unwrittenMarks } from "../../src/cli/unwritten.ts";

function deferred(): { promise: Promise<void>; resolve: () => void; settled: () => boolean } {
  let resolve!: () => void;
  let done = false;
  const promise = new Promise<void>((r) => (resolve = r)).then(() => void (done = true));
  return { promise, resolve, settled: () => done };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("Acks", () => {
  test("nothing pending answers undefined; pending ones answer a promise that waits for all", async () => {
    const a = new Acks();
    a.add(undefined);
    a.add(true);
    expect(a.ack()).toBeUndefined();
    const one = deferred();
    const two = deferred();
    a.add(one.promise);
    a.add(undefined);
    a.add(two.promise);
    const ack = a.ack();
    expect(ack).toBeInstanceOf(Promise);
    let done = false;
    void ack!.then(() => (done = true));
    one.resolve();
    await tick();
    expect(done).toBe(false);
    two.resolve();
    await tick();
    expect(done).toBe(true);
    // Taken: the next piece starts with nothing pending.
    expect(a.ack()).toBeUndefined();
  });

  test("a rejected ack settles the producer's wait instead of failing it", async () => {
    const a = new Acks();
    a.add(Promise.reject(new Error("reader gone")));
    await expect(a.ack()!).resolves.toBeUndefined();
    await expect(waitAck(Promise.reject(new Error("x")))).resolves.toBeUndefined();
    await expect(waitAck(undefined)).resolves.toBeUndefined();
  });
});

describe("rechunk", () => {
  test("push answers the promise its emitted pieces answered, undefined when none was behind", async () => {
    const gate = deferred();
    const seen: number[] = [];
    const out = rechunk(4, (piece) => {
      seen.push(piece.length);
      return seen.length === 2 ? gate.promise : undefined;
    });
    expect(out.push(Buffer.from("abc"))).toBeUndefined(); // held, nothing emitted
    expect(out.push(Buffer.from("d"))).toBeUndefined(); // one piece, taken
    const ack = out.push(Buffer.from("efghij")); // one piece (behind), two bytes held
    expect(ack).toBeInstanceOf(Promise);
    gate.resolve();
    await ack;
    out.flush();
    expect(seen).toEqual([4, 4, 2]);
  });
});

describe("serviceLogs", () => {
  test("a chunk's lines answer one promise while any entry's reader is behind; the shell waits on it", async () => {
    const gate = deferred();
    const acks: unknown[] = [];
    const sh: WorkspaceShell = {
      async run(_script, opts) {
        acks.push(opts!.onStdout!(Buffer.from("2026-12-06T10:00:00.000Z O one\n2026-12-06T10:00:00.001Z E tw")));
        acks.push(opts!.onStdout!(Buffer.from("o\n")));
        return { exitCode: 0, stdout: "", stderr: "" };
      },
    };
    const got: string[] = [];
    await serviceLogs(sh, "web", { tail: 10, follow: false }, (e) => {
      got.push(`${e.level}:${e.message}`);
      return e.message === "one" ? gate.promise : undefined;
    });
    expect(got).toEqual(["info:one", "error:two"]);
    expect(acks[0]).toBeInstanceOf(Promise);
    expect(acks[1]).toBeUndefined();
    let released = false;
    void (acks[0] as Promise<void>).then(() => (released = true));
    await tick();
    expect(released).toBe(false);
    gate.resolve();
    await tick();
    await tick();
    expect(released).toBe(true);
  });
});

describe("unwrittenMarks", () => {
  test("holds the reader only when the previous mark's output is still unwritten", async () => {
    const wrote = unwrittenMarks(10);
    const first = deferred();
    expect(wrote(first.promise, 4)).toBeUndefined(); // under a mark
    expect(wrote(first.promise, 6)).toBeUndefined(); // first mark: nothing before it
    const second = deferred();
    expect(wrote(second.promise, 10)).toBe(first.promise); // first mark not written yet: wait for it
    second.resolve();
    first.resolve();
    await first.promise;
    await second.promise;
    await tick();
    const third = deferred();
    expect(wrote(third.promise, 10)).toBeUndefined(); // second mark written: read on
  });
});
