import { describe, expect, test } from "bun:test";
import { LineSplitter, nonBlankLines } from "../../src/kernel/lines.ts";

describe("LineSplitter", () => {
  test("joins a line cut across chunks, and a character cut across chunks", () => {
    const s = new LineSplitter();
    const bytes = new TextEncoder().encode("é\n");
    expect(s.push("a")).toEqual([]);
    expect(s.push("b\nc")).toEqual(["ab"]);
    expect(s.push(bytes.subarray(0, 1))).toEqual([]);
    expect(s.push(bytes.subarray(1))).toEqual(["cé"]);
    expect(s.push("\n\nlast")).toEqual(["", ""]);
    expect(s.pending).toBe("last");
    expect(s.end()).toBe("last");
    expect(s.end()).toBeUndefined();
  });
});

describe("nonBlankLines", () => {
  async function* chunks(...parts: string[]) {
    for (const p of parts) yield new TextEncoder().encode(p);
  }

  test("trimmed, blank lines skipped, the last line without a newline kept", async () => {
    const got: string[] = [];
    for await (const l of nonBlankLines(chunks('{"a":1}\n  \n {"b"', ":2}\r\n", '{"c":3}'))) got.push(l);
    expect(got).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  test("a line longer than allowed ends the stream with the caller's error", async () => {
    const read = async () => {
      for await (const _ of nonBlankLines(chunks("x".repeat(20)), 10, () => new Error("too long"))) void _;
    };
    await expect(read()).rejects.toThrow("too long");
  });
});
