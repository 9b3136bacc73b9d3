// The one tar a checkpoint restore copies into the new container: parts re-rooted under their
// directory (names, hard link targets, long names in pax and GNU form), owners and modes kept, files
// made here appended, a later part winning. Checked with the system's own tar.
import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, linkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ContainerEngine } from "../../src/docker/container-engine.ts";
import { writeRestoreArchive } from "../../src/docker/restore-archive.ts";

const root = mkdtempSync(join(tmpdir(), "restore-archive-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// No part here reads from a container: an engine that is asked anything fails the test.
const noEngine = new Proxy({}, { get: (_t, k) => () => Promise.reject(new Error(`the engine was asked ${String(k)}`)) }) as unknown as ContainerEngine;

const LONG = `${"d".repeat(60)}/${"f".repeat(80)}.txt`;

const made = new Map<string, string>();
function sourceTar(format: "gnu" | "posix"): string {
  if (made.has(format)) return made.get(format)!;
  const src = join(root, `src-${format}`);
  mkdirSync(join(src, "nexus", "d".repeat(60)), { recursive: true });
  writeFileSync(join(src, "nexus", "a.txt"), "alpha");
  writeFileSync(join(src, "nexus", "script.sh"), "#!/bin/sh\n", { mode: 0o750 });
  symlinkSync("a.txt", join(src, "nexus", "link"));
  linkSync(join(src, "nexus", "a.txt"), join(src, "nexus", "hard"));
  writeFileSync(join(src, "nexus", LONG), "long");
  const file = join(root, `home-${format}.tar`);
  execFileSync("tar", [`--format=${format}`, "--owner=1000", "--group=1000", "--numeric-owner", "-cf", file, "-C", src, "nexus"]);
  made.set(format, file);
  return file;
}

describe("writeRestoreArchive", () => {
  for (const format of ["gnu", "posix"] as const) {
    test(`re-roots a ${format} tar under its directory: names, hard links, long names, owners and modes`, async () => {
      const out = join(root, `out-${format}.tar`);
      const bytes = await writeRestoreArchive(noEngine, [{ from: "file", file: sourceTar(format), dir: "/home" }], out);
      expect(bytes).toBe(statSync(out).size);
      const listing = execFileSync("tar", ["-tvf", out, "--numeric-owner"], { encoding: "utf8" });
      expect(listing).toContain(" 1000/1000 ");
      const names = execFileSync("tar", ["-tf", out], { encoding: "utf8" }).trim().split("\n");
      expect(names).toContain("home/nexus/a.txt");
      expect(names).toContain(`home/nexus/${LONG}`);
      expect(names.every((n) => n.startsWith("home/nexus"))).toBe(true);
      const dest = join(root, `dest-${format}`);
      mkdirSync(dest);
      execFileSync("tar", ["-xf", out, "-C", dest]);
      const home = join(dest, "home", "nexus");
      expect(readFileSync(join(home, "a.txt"), "utf8")).toBe("alpha");
      expect(readFileSync(join(home, LONG), "utf8")).toBe("long");
      expect(readlinkSync(join(home, "link"))).toBe("a.txt");
      // The hard link points at the re-rooted name (tar would fail on one it cannot find).
      expect(statSync(join(home, "hard")).ino).toBe(statSync(join(home, "a.txt")).ino);
      expect(statSync(join(home, "script.sh")).mode & 0o777).toBe(0o750);
    });
  }

  test("files made here are appended after the tars, and a later part wins at the same path", async () => {
    const out = join(root, "out-entries.tar");
    await writeRestoreArchive(
      noEngine,
      [
        { from: "file", file: sourceTar("posix"), dir: "/home" },
        { from: "entries", entries: [{ name: "/etc/nexus/ssh/authorized_keys", content: "key\n", mode: 0o600 }, { name: "home/nexus/a.txt", content: "beta" }] },
      ],
      out,
    );
    const dest = join(root, "dest-entries");
    mkdirSync(dest);
    execFileSync("tar", ["-xf", out, "-C", dest]);
    expect(readFileSync(join(dest, "etc/nexus/ssh/authorized_keys"), "utf8")).toBe("key\n");
    expect(statSync(join(dest, "etc/nexus/ssh/authorized_keys")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dest, "home/nexus/a.txt"), "utf8")).toBe("beta");
  });

  test("a part that fails leaves no file behind", async () => {
    const out = join(root, "out-failed.tar");
    const err = await writeRestoreArchive(noEngine, [{ from: "entries", entries: [{ name: "x", content: "x" }] }, { from: "container", containerId: "c", path: "/opt/x" }], out).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(false);
  });
});
