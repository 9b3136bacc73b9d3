// The CLI's back-pressure from its stdout (cli/unwritten.ts): pausingWriter stops its source while
// stdout holds more than its bound unwritten, resumes it once stdout caught up, keeps the order,
// and says when all of it is written.
import { expect, test } from "bun:test";
import { Writable } from "node:stream";
import { pausingWriter } from "../../src/cli/unwritten.ts";

/** A stdout whose writes finish only when the test lets them (a pipe nobody reads until then). */
function heldStdout() {
  const written: string[] = [];
  const held: Array<() => void> = [];
  const out = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString());
      held.push(done);
    },
  });
  return {
    out,
    written,
    /** Lets every write so far finish (and those that follow while it runs). */
    async release(): Promise<void> {
      while (held.length > 0) {
        held.shift()!();
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  };
}

test("pauses the source past the bound unwritten, resumes it once stdout caught up; nothing lost or reordered", async () => {
  const stdout = heldStdout();
  const calls: string[] = [];
  let paused = false;
  const source = {
    pause: () => void (calls.push("pause"), (paused = true)),
    resume: () => void (calls.push("resume"), (paused = false)),
  };
  const writer = pausingWriter(stdout.out, source, 1000);
  const lines = Array.from({ length: 200 }, (_, i) => `${String(i).padStart(8, "0")}\n`); // 9 characters each: 1800
  let sentBeforePause = 0;
  // Here the source goes on delivering after pause (a WebSocket still emits what it had read): written too, in order.
  for (const line of lines) {
    writer.write(line);
    if (!paused) sentBeforePause++;
  }
  expect(calls).toEqual(["pause"]);
  // Paused once more than 1000 characters were handed over and not written: at the 112th line (1008).
  expect(sentBeforePause).toBe(Math.floor(1000 / 9));
  let flushed = false;
  const done = writer.flushed().then(() => (flushed = true));
  await new Promise((resolve) => setImmediate(resolve));
  expect(flushed).toBe(false);
  await stdout.release();
  await done;
  expect(calls).toEqual(["pause", "resume"]);
  expect(stdout.written.join("")).toBe(lines.join(""));
});

test("flushed resolves at once when nothing waits, and an empty text is not written", async () => {
  const stdout = heldStdout();
  const writer = pausingWriter(stdout.out, { pause() {}, resume() {} });
  writer.write("");
  expect(stdout.written).toEqual([]);
  await writer.flushed();
});

test("a stdout whose reader went away (EPIPE) still ends the wait and resumes the source", async () => {
  const out = new Writable({
    write(_chunk, _enc, done) {
      setImmediate(() => done(Object.assign(new Error("write EPIPE"), { code: "EPIPE" })));
    },
  });
  out.on("error", () => {});
  const calls: string[] = [];
  const writer = pausingWriter(out, { pause: () => void calls.push("pause"), resume: () => void calls.push("resume") }, 10);
  writer.write("0123456789abcdef");
  await writer.flushed();
  expect(calls).toEqual(["pause", "resume"]);
});
