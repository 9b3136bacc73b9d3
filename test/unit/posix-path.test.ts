// kernel/posix-path.ts stands in for node:path on the CLI's start path: it must give node's answers.
import { describe, expect, test } from "bun:test";
import { posix } from "node:path";
import { joinPosix, normalizePosix, resolvePosix } from "../../src/kernel/posix-path.ts";

const cases = ["", ".", "/", "//", "a", "a/", "/a/b/", "a//b", "./a", "a/./b", "a/..", "a/../..", "../a", "/..", "/../a", "a/b/../../c", "~/.nexus", "/tmp/x/../y/./z//"];
// Absolute paths near the shapes an already normal one may have (normalizePosix returns those as they are).
const absolute = ["/a", "/a/b", "/tmp/nexus-home", "/.", "/./a", "/a/.", "/a/..", "/a/../b", "/a/./b", "/a//b", "//a", "/a/", "///", "/...", "/a/.../b", "/a/.b", "/a/b.", "/a/..b", "/a/b..", "/.a", "/..a/b"];

describe("posix paths as node:path gives them", () => {
  test("normalize", () => {
    for (const c of [...cases.filter((c) => c !== ""), ...absolute]) expect([c, normalizePosix(c)]).toEqual([c, posix.normalize(c).replace(/(.)\/$/, "$1")]);
  });
  test("join", () => {
    for (const a of cases) for (const b of cases) expect([a, b, joinPosix(a, b)]).toEqual([a, b, posix.join(a, b).replace(/(.)\/$/, "$1")]);
  });
  test("resolve", () => {
    for (const a of [...cases, ...absolute]) for (const b of cases) expect([a, b, resolvePosix(a, b)]).toEqual([a, b, posix.resolve(a, b)]);
  });
});
