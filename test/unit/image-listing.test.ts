// A checkpoint's container changes found from listings of the original and the committed image
// (src/docker/image-listing.ts): the parsing of GNU find's records and the comparison, which must
// report what `docker diff` reports for the same change.
import { describe, expect, test } from "bun:test";
import { reduceChanges } from "../../src/docker/checkpoints.ts";
import { diffListings, parseListing } from "../../src/docker/image-listing.ts";

/** find's output for entries [type, uid, gid, mode, size, mtime, path, link?]. */
const out = (rows: Array<[string, number, number, string, number, string, string, string?]>) => rows.map(([y, u, g, m, s, t, p, l]) => `${y} ${u} ${g} ${m} ${s} ${t} ${p}\0${l ?? ""}\0`).join("");

const base = [
  ["d", 0, 0, "755", 4096, "1.0", "/"],
  ["d", 0, 0, "755", 4096, "1.0", "/etc"],
  ["f", 0, 0, "644", 10, "1.0", "/etc/passwd"],
  ["l", 0, 0, "777", 12, "1.0", "/etc/mtab", "/proc/mounts"],
  ["f", 0, 0, "755", 0, "5.0", "/.dockerenv"],
  ["d", 0, 0, "755", 4096, "1.0", "/opt"],
  ["d", 0, 0, "755", 4096, "1.0", "/usr/share/doc/tmux"],
  ["f", 0, 0, "644", 3, "1.0", "/usr/share/doc/tmux/README"],
  ["f", 0, 0, "644", 3, "1.0", "/usr/bin/tool"],
  ["l", 0, 0, "777", 4, "1.0", "/usr/bin/alias", "tool"],
  ["d", 1000, 1000, "755", 4096, "1.0", "/home/nexus"],
] as Array<[string, number, number, string, number, string, string, string?]>;

describe("parseListing", () => {
  test("reads paths with spaces and link targets, and leaves out Docker's init layer of the listing container", () => {
    const l = parseListing(out([...base, ["f", 0, 0, "644", 1, "2.5", "/opt/a file with  spaces"]]));
    expect(l.get("/opt/a file with  spaces")).toBe("f 0 0 644 1 2.5\0");
    expect(l.get("/usr/bin/alias")).toBe("l 0 0 777 4 1.0\0tool");
    expect(l.has("/.dockerenv")).toBe(false);
    expect(l.has("/etc/mtab")).toBe(false);
    expect(l.has("/")).toBe(true);
  });
});

describe("diffListings", () => {
  test("added, changed (content, mode, owner, link target) and deleted paths; directories changed only by type, owner or mode", () => {
    const top = out([
      ["d", 0, 0, "755", 4096, "9.0", "/"], // a directory's mtime and size say nothing
      ["d", 0, 0, "755", 4096, "9.0", "/etc"],
      ["f", 0, 0, "644", 10, "9.0", "/etc/passwd"], // same size, new mtime: changed
      ["f", 0, 0, "755", 0, "7.0", "/.dockerenv"], // the listing container's own: ignored
      ["d", 0, 0, "755", 4096, "9.0", "/opt"],
      ["d", 0, 0, "700", 4096, "9.0", "/opt/app"], // added tree
      ["f", 0, 0, "644", 1, "9.0", "/opt/app/x"],
      ["f", 0, 0, "755", 3, "1.0", "/usr/bin/tool"], // mode only
      ["l", 0, 0, "777", 4, "1.0", "/usr/bin/alias", "tooL"], // link target only
      ["d", 1000, 1001, "755", 4096, "1.0", "/home/nexus"], // owner of a directory
    ]);
    const changes = diffListings(parseListing(out(base)), parseListing(top));
    const byKind = (k: number) => changes.filter((c) => c.Kind === k).map((c) => c.Path).sort();
    expect(byKind(1)).toEqual(["/opt/app", "/opt/app/x"]);
    expect(byKind(0)).toEqual(["/etc/passwd", "/home/nexus", "/usr/bin/alias", "/usr/bin/tool"]);
    expect(byKind(2)).toEqual(["/usr/share/doc/tmux", "/usr/share/doc/tmux/README"]);
    // As restore takes them: the added tree by its top, the deleted one by its top, the excluded home left out.
    expect(reduceChanges(changes, ["/home/nexus"])).toEqual({ copy: ["/etc/passwd", "/opt/app", "/usr/bin/alias", "/usr/bin/tool"], remove: ["/usr/share/doc/tmux"] });
  });

  test("the same listing twice is no change", () => {
    expect(diffListings(parseListing(out(base)), parseListing(out(base)))).toEqual([]);
  });
});
