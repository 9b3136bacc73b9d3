import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tar, type TarEntry } from "../../src/docker/tar.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

/** Extracts `archive` with the system tar into `dir` (keeping modes); tar must not complain. */
function extract(archive: Buffer, dir: string): void {
  const file = `${dir}.tar`;
  writeFileSync(file, archive);
  const r = spawnSync("tar", ["-x", "-p", "--no-same-owner", "-f", file, "-C", dir], { encoding: "utf8" });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
}

/** `tar -tv` lines with numeric owners. */
function listing(archive: Buffer, dir: string): string[] {
  const file = join(dir, "listing.tar");
  writeFileSync(file, archive);
  const r = spawnSync("tar", ["-t", "-v", "--numeric-owner", "-f", file], { encoding: "utf8" });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return r.stdout.trim().split("\n");
}

const mode = (path: string) => statSync(path).mode & 0o7777;

describe("tar", () => {
  test("is a whole number of 512-byte blocks ending in two zero blocks", () => {
    const t = tar([{ name: "a", content: "hello" }]);
    expect(t.length % 512).toBe(0);
    expect(t.length).toBe(512 + 512 + 1024);
    expect(t.subarray(t.length - 1024).every((b) => b === 0)).toBe(true);
    expect(tar([]).length).toBe(1024);
  });

  test("files, directories and modes extract as written", async () => {
    await using dir = tempDir("tar");
    const out = join(dir.path, "out");
    mkdirSync(out);
    const entries: TarEntry[] = [
      { name: "etc", type: "dir", mode: 0o755 },
      { name: "etc/nexus/", type: "dir", mode: 0o700 },
      { name: "etc/nexus/key", content: "PRIVATE\n", mode: 0o600 },
      { name: "etc/nexus/key.pub", content: "public\n", mode: 0o644 },
      { name: "usr/local/sbin/init", content: "#!/bin/sh\nexit 0\n", mode: 0o755 },
      { name: "empty", content: "" },
      { name: "/leading/slash.txt", content: "abs" },
    ];
    extract(tar(entries), out);
    expect(mode(join(out, "etc"))).toBe(0o755);
    expect(statSync(join(out, "etc/nexus")).isDirectory()).toBe(true);
    expect(mode(join(out, "etc/nexus"))).toBe(0o700);
    expect(readFileSync(join(out, "etc/nexus/key"), "utf8")).toBe("PRIVATE\n");
    expect(mode(join(out, "etc/nexus/key"))).toBe(0o600);
    expect(mode(join(out, "etc/nexus/key.pub"))).toBe(0o644);
    expect(mode(join(out, "usr/local/sbin/init"))).toBe(0o755);
    expect(readFileSync(join(out, "empty"), "utf8")).toBe("");
    expect(mode(join(out, "empty"))).toBe(0o644); // the default file mode
    expect(readFileSync(join(out, "leading/slash.txt"), "utf8")).toBe("abs"); // made relative
  });

  test("binary content of awkward lengths survives byte for byte", async () => {
    await using dir = tempDir("tar");
    const out = join(dir.path, "out");
    mkdirSync(out);
    const sizes = [1, 511, 512, 513, 1024, 70_000];
    const blobs = sizes.map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) % 256));
    extract(tar(blobs.map((content, i) => ({ name: `bin/${sizes[i]}.bin`, content }))), out);
    for (const [i, blob] of blobs.entries()) {
      expect(Buffer.compare(readFileSync(join(out, `bin/${sizes[i]}.bin`)), Buffer.from(blob))).toBe(0);
    }
  });

  test("unicode names and content", async () => {
    await using dir = tempDir("tar");
    const out = join(dir.path, "out");
    mkdirSync(out);
    extract(tar([{ name: "dïr/日本語.txt", content: "ünïcödé 🚀" }]), out);
    expect(readFileSync(join(out, "dïr/日本語.txt"), "utf8")).toBe("ünïcödé 🚀");
  });

  test("names of exactly 100 bytes and long names split into ustar prefix + name", async () => {
    await using dir = tempDir("tar");
    const out = join(dir.path, "out");
    mkdirSync(out);
    const exactly100 = "x".repeat(100);
    const long = `${"a".repeat(60)}/${"b".repeat(60)}/${"c".repeat(20)}/file-with-a-long-name-${"d".repeat(40)}.txt`;
    expect(Buffer.byteLength(long)).toBeGreaterThan(100);
    const longDir = `${"e".repeat(90)}/${"f".repeat(90)}`;
    extract(
      tar([
        { name: exactly100, content: "100" },
        { name: long, content: "long", mode: 0o640 },
        { name: longDir, type: "dir", mode: 0o750 },
      ]),
      out,
    );
    expect(readFileSync(join(out, exactly100), "utf8")).toBe("100");
    expect(readFileSync(join(out, long), "utf8")).toBe("long");
    expect(mode(join(out, long))).toBe(0o640);
    expect(statSync(join(out, longDir)).isDirectory()).toBe(true);
    expect(mode(join(out, longDir))).toBe(0o750);
  });

  test("a long path whose last component is short but whose directory exceeds 155 bytes still fits ustar", async () => {
    // 16 directories of 10 bytes: splitting at the last '/' leaves a 175-byte prefix (too long),
    // but splitting at an earlier '/' (prefix <= 155, name <= 100) is a valid ustar header.
    await using dir = tempDir("tar");
    const out = join(dir.path, "out");
    mkdirSync(out);
    const name = `${Array.from({ length: 16 }, (_, i) => `dir${String(i).padStart(2, "0")}xxxxx`).join("/")}/f`;
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    extract(tar([{ name, content: "deep" }]), out);
    expect(readFileSync(join(out, name), "utf8")).toBe("deep");
  });

  test("a path that cannot fit ustar is refused, not truncated", () => {
    expect(() => tar([{ name: "n".repeat(101), content: "x" }])).toThrow(/path too long/);
    expect(() => tar([{ name: `${"p".repeat(10)}/${"n".repeat(101)}`, content: "x" }])).toThrow(/path too long/);
  });

  test("uid and gid are written (numeric owner)", async () => {
    await using dir = tempDir("tar");
    const lines = listing(tar([{ name: "owned", content: "x", uid: 1000, gid: 1001, mode: 0o600 }, { name: "rootdir", type: "dir" }]), dir.path);
    expect(lines[0]).toMatch(/^-rw------- 1000\/1001 +1 .* owned$/);
    expect(lines[1]).toMatch(/^drwxr-xr-x 0\/0 +0 .* rootdir\/$/);
  });

  test("the header checksum is what tar expects", async () => {
    // GNU tar refuses ("Skipping to next header" / checksum error) an archive with a bad checksum.
    await using dir = tempDir("tar");
    const good = tar([{ name: "a", content: "x" }]);
    expect(listing(good, dir.path)).toHaveLength(1);
    const bad = Buffer.from(good);
    bad[0] = "b".charCodeAt(0); // change the name without fixing the checksum
    const file = join(dir.path, "bad.tar");
    writeFileSync(file, bad);
    const r = spawnSync("tar", ["-t", "-f", file], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
  });
});
