// Original images' listings kept on disk (src/store/image-listings.ts): read back as written, and
// anything the daemon cannot vouch for (torn, edited, another image's, a link, another format, too
// big) read as absent, so a bad file only costs a listing made again, never wrong changes.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, linkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseListing, type Listing } from "../../src/docker/image-listing.ts";
import { decodeListing, encodeListing, ImageListingFiles } from "../../src/store/image-listings.ts";

const root = mkdtempSync(join(tmpdir(), "image-listings-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const files = () => new ImageListingFiles(join(root, `d${n++}`));

const IMAGE = "sha256:" + "a".repeat(64);
const listing: Listing = parseListing(
  [
    "d 0 0 755 4096 1700000000.0000000000 /\0\0",
    "d 0 0 755 4096 1700000000.0000000000 /etc\0\0",
    "f 0 0 644 10 1700000000.5000000000 /etc/passwd\0\0",
    "l 0 0 777 12 1700000000.0000000000 /usr/bin/awk\0/etc/alternatives/awk\0",
    "f 1000 1000 600 3 1700000001.2500000000 /opt/with space and\nnewline\0\0",
  ].join(""),
);

describe("image listings on disk", () => {
  test("read back equal to what was written, for that engine and image only", () => {
    const f = files();
    expect(f.has("local", IMAGE)).toBe(false);
    expect(f.write("local", IMAGE, listing)).toBe(true);
    expect(f.has("local", IMAGE)).toBe(true);
    expect(f.read("local", IMAGE)).toEqual(listing);
    expect(f.read("buildbox", IMAGE)).toBeUndefined();
    expect(f.list()).toEqual([{ file: f.fileOf("local", IMAGE), engine: "local", image: IMAGE }]);
    expect(decodeListing(encodeListing(listing))).toEqual(listing);
  });

  test("a torn, edited or foreign file is absent, and removed", () => {
    for (const damage of [
      (b: Buffer) => b.subarray(0, b.length - 7), // torn
      (b: Buffer) => Buffer.from(b.toString("latin1").replace("/etc/passwd", "/etc/shadow"), "latin1"), // edited body: hash differs
      (b: Buffer) => Buffer.from(b.toString("latin1").replace(IMAGE, "sha256:" + "b".repeat(64)), "latin1"), // another image's
      (b: Buffer) => Buffer.from(b.toString("latin1").replace("nexus-image-listing 1", "nexus-image-listing 9"), "latin1"), // another format
      () => Buffer.from("garbage"),
      () => Buffer.alloc(0),
    ]) {
      const f = files();
      f.write("local", IMAGE, listing);
      const file = f.fileOf("local", IMAGE);
      writeFileSync(file, damage(readFileSync(file)));
      expect(f.read("local", IMAGE)).toBeUndefined();
      expect(f.has("local", IMAGE)).toBe(false);
    }
  });

  test("a link, or a file with a second name, is not read", () => {
    const f = files();
    f.write("local", IMAGE, listing);
    const file = f.fileOf("local", IMAGE);
    const real = join(root, `real-${n}`);
    writeFileSync(real, readFileSync(file));
    rmSync(file);
    symlinkSync(real, file);
    expect(f.read("local", IMAGE)).toBeUndefined();
    expect(readFileSync(real).length).toBeGreaterThan(0); // the link's target is left alone

    const g = files();
    g.write("local", IMAGE, listing);
    linkSync(g.fileOf("local", IMAGE), join(root, `second-name-${n}`));
    expect(g.read("local", IMAGE)).toBeUndefined();
  });

  test("records that are not find's are refused", () => {
    expect(decodeListing(Buffer.from("relative/path\0f 0 0 644 1 1.0\0\0"))).toBeUndefined();
    expect(decodeListing(Buffer.from("/a\0f 0 0 644 1 1.0; rm -rf /\0\0"))).toBeUndefined();
    expect(decodeListing(Buffer.from("/a\0f 0 0 644 1 1.0\0"))).toBeUndefined(); // not three fields
    expect(decodeListing(Buffer.alloc(0))?.size).toBe(0);
  });

  test("different engines and images have different files; remove takes one", () => {
    const f = files();
    f.write("local", IMAGE, listing);
    f.write("buildbox", IMAGE, listing);
    expect(new Set(f.list().map((x) => x.file)).size).toBe(2);
    f.remove(f.fileOf("buildbox", IMAGE));
    expect(f.list().map((x) => x.engine)).toEqual(["local"]);
    expect(readdirSync(f.dir)).toHaveLength(1); // no temporary file left by the atomic write
  });
});
