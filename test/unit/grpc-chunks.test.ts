import { describe, expect, test } from "bun:test";
import { chunkSize, DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, rechunk } from "../../src/api/grpc/chunks.ts";
import { NexusError } from "../../src/kernel/errors.ts";

describe("chunk_size", () => {
  test("0 or unset is the proto's 64 KiB; the bounds are taken as asked", () => {
    expect(chunkSize(0)).toBe(64 * 1024);
    expect(chunkSize(undefined)).toBe(DEFAULT_CHUNK_BYTES);
    expect(chunkSize(MIN_CHUNK_BYTES)).toBe(1024);
    expect(chunkSize(MAX_CHUNK_BYTES)).toBe(1024 * 1024);
    expect(chunkSize(10_000)).toBe(10_000);
  });

  test("below the minimum, above the maximum or negative is INVALID_ARGUMENT naming the field", () => {
    for (const bad of [-1, 1, MIN_CHUNK_BYTES - 1, MAX_CHUNK_BYTES + 1, 2 ** 31 - 1, -(2 ** 31)]) {
      let err: unknown;
      try {
        chunkSize(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NexusError);
      expect((err as NexusError).code).toBe("INVALID_ARGUMENT");
      expect((err as NexusError).details).toEqual({ field: "chunk_size" });
    }
  });
});

describe("rechunk", () => {
  const cut = (size: number, pieces: number[]) => {
    const out: Buffer[] = [];
    const r = rechunk(size, (b) => out.push(Buffer.from(b)));
    let n = 0;
    const all: Buffer[] = [];
    for (const len of pieces) {
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++) b[i] = (n++ * 13) % 251;
      all.push(b);
      r.push(b);
    }
    r.flush();
    return { sizes: out.map((b) => b.length), same: Buffer.concat(out).equals(Buffer.concat(all)) };
  };

  test("pieces of exactly size bytes, the last one shorter, the bytes unchanged and in order", () => {
    expect(cut(4, [3, 3, 3, 3])).toEqual({ sizes: [4, 4, 4], same: true });
    expect(cut(4, [10])).toEqual({ sizes: [4, 4, 2], same: true });
    expect(cut(1024, [32768, 32768, 100])).toEqual({ sizes: [...Array(64).fill(1024), 100], same: true });
    expect(cut(100_000, [32768, 32768, 32768, 32768])).toEqual({ sizes: [100_000, 31072], same: true });
    expect(cut(8, [0, 8, 0])).toEqual({ sizes: [8], same: true });
  });

  test("nothing in, nothing out; a size under 1 is refused instead of looping forever", () => {
    expect(cut(4, [])).toEqual({ sizes: [], same: true });
    expect(() => rechunk(0, () => {})).toThrow(RangeError);
    expect(() => rechunk(Number.NaN, () => {})).toThrow(RangeError);
  });
});
