// fs/untrusted-tar.ts with hand-made hostile archives: each is refused and leaves nothing behind.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import * as tarStream from "tar-stream";
import { extractUntrustedTar, linkStaysInside, safeEntryComponents } from "../../src/fs/untrusted-tar.ts";
import { NexusError } from "../../src/kernel/errors.ts";
import { tempDir } from "../helpers/fixtures.ts";

type Entry = tarStream.Headers & { body?: string };

function tarOf(entries: Entry[]): Readable {
  const pack = tarStream.pack();
  for (const { body, ...h } of entries) pack.entry(h, body ?? "");
  pack.finalize();
  return pack;
}

async function refusal(entries: Entry[], dir: string): Promise<NexusError> {
  try {
    await extractUntrustedTar(tarOf(entries), dir);
  } catch (err) {
    expect(err).toBeInstanceOf(NexusError);
    expect(readdirSync(dir)).toEqual([]);
    return err as NexusError;
  }
  throw new Error("expected a refusal");
}

describe("names and links", () => {
  test("absolute names, '..' and empty names are refused", () => {
    expect(safeEntryComponents("a/./b//c")).toEqual(["a", "b", "c"]);
    expect(() => safeEntryComponents("/etc/passwd")).toThrow("its name is absolute");
    expect(() => safeEntryComponents("a/../../x")).toThrow("climbs out");
    expect(() => safeEntryComponents("./")).toThrow("empty");
  });

  test("a link stays inside the copied tree or is refused", () => {
    expect(linkStaysInside(["d", "link"], "sub/f")).toBe(true);
    expect(linkStaysInside(["d", "sub", "link"], "../f")).toBe(true);
    expect(linkStaysInside(["d", "link"], "../x")).toBe(false);
    expect(linkStaysInside(["d", "link"], "/etc")).toBe(false);
    expect(linkStaysInside(["d", "link"], "")).toBe(false);
  });
});

describe("extractUntrustedTar", () => {
  test("a good tree lands, renamed when asked, links kept as links", async () => {
    await using t = tempDir("tar");
    const dir = realpathSync(t.path);
    const r = await extractUntrustedTar(
      tarOf([
        { name: "d", type: "directory", mode: 0o755 },
        { name: "d/f", type: "file", mode: 0o600, body: "hello" },
        { name: "d/l", type: "symlink", linkname: "f" },
        { name: "d/h", type: "link", linkname: "d/f" },
      ]),
      dir,
      "renamed",
    );
    expect(r).toEqual({ path: join(dir, "renamed"), entries: 4, bytes: 5 });
    expect(readFileSync(join(dir, "renamed", "f"), "utf8")).toBe("hello");
    expect(readlinkSync(join(dir, "renamed", "l"))).toBe("f");
    expect(readFileSync(join(dir, "renamed", "h"), "utf8")).toBe("hello");
  });

  test("hostile archives are refused with nothing written", async () => {
    await using t = tempDir("tar");
    const dir = realpathSync(t.path);
    const outside = join(dir, "..", `outside-${Date.now()}`);
    expect((await refusal([{ name: "/etc/x", type: "file", body: "x" }], dir)).message).toContain("its name is absolute");
    expect((await refusal([{ name: "d", type: "directory" }, { name: "d/../../x", type: "file", body: "x" }], dir)).message).toContain("climbs out");
    expect((await refusal([{ name: "d", type: "directory" }, { name: "d/esc", type: "symlink", linkname: outside }], dir)).code).toBe("PERMISSION_DENIED");
    // A link to inside the tree is fine, but nothing is ever written through a link.
    const through = await refusal([{ name: "d", type: "directory" }, { name: "d/sub", type: "directory" }, { name: "d/l", type: "symlink", linkname: "sub" }, { name: "d/l/f", type: "file", body: "x" }], dir);
    expect(through.message).toContain("written through the symlink 'l'");
    expect((await refusal([{ name: "a", type: "directory" }, { name: "b/x", type: "file", body: "x" }], dir)).message).toContain("outside the copied tree 'a'");
    expect((await refusal([{ name: "d", type: "directory" }, { name: "d/h", type: "link", linkname: "/etc/passwd" }], dir)).message).toContain("absolute");
    expect((await refusal([{ name: "d", type: "directory" }, { name: "d/fifo", type: "fifo" }], dir)).message).toContain("is a fifo");
    expect(existsSync(outside)).toBe(false);
  });
});
