import { describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NexusError } from "../../src/core/errors.ts";
import { appendUntrustedFileSync, isUntrustedRegularFile, readUntrustedFile, readUntrustedFileSync } from "../../src/fs/untrusted-files.ts";
import { TailBuffer, collectOutput } from "../../src/core/output-cap.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as NexusError).code;
  }
  return "none";
}

describe("untrusted files", () => {
  test("regular files are read; missing ones are undefined", async () => {
    await using d = tempDir("uf");
    writeFileSync(join(d.path, "a.yaml"), "x: 1\n");
    expect(readUntrustedFileSync(d.path, "a.yaml")).toBe("x: 1\n");
    expect(await readUntrustedFile(d.path, "a.yaml")).toBe("x: 1\n");
    expect(readUntrustedFileSync(d.path, "missing.yaml")).toBeUndefined();
    expect(readUntrustedFileSync(d.path, "nodir/missing.yaml")).toBeUndefined();
  });

  test("symlinks (to the file or a folder) out of the root are refused without quoting the target", async () => {
    await using d = tempDir("uf");
    const outside = join(d.path, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "w.yaml"), "secret: 1\n");
    const root = join(d.path, "root");
    mkdirSync(root);
    symlinkSync(join(outside, "w.yaml"), join(root, "w.yaml"));
    symlinkSync(outside, join(root, "dir"));
    expect(code(() => readUntrustedFileSync(root, "w.yaml"))).toBe("PERMISSION_DENIED");
    expect(code(() => readUntrustedFileSync(root, "dir/w.yaml"))).toBe("PERMISSION_DENIED");
    expect(code(() => readUntrustedFileSync(root, "../outside/w.yaml"))).toBe("PERMISSION_DENIED");
    await expect(readUntrustedFile(root, "w.yaml")).rejects.toThrow("symlink");
    expect(isUntrustedRegularFile(root, "dir/w.yaml")).toBe(false);
    try {
      readUntrustedFileSync(root, "w.yaml");
    } catch (err) {
      expect(JSON.stringify((err as NexusError).toJSON())).not.toContain("secret");
    }
  });

  test("a FIFO is refused at once, and oversized files are refused", async () => {
    await using d = tempDir("uf");
    execFileSync("mkfifo", [join(d.path, "fifo")]);
    expect(code(() => readUntrustedFileSync(d.path, "fifo"))).toBe("INVALID_ARGUMENT");
    await expect(readUntrustedFile(d.path, "fifo")).rejects.toThrow("not a regular file");
    writeFileSync(join(d.path, "big"), Buffer.alloc(2048, 65));
    expect(code(() => readUntrustedFileSync(d.path, "big", { maxBytes: 1024 }))).toBe("INVALID_ARGUMENT");
    await expect(readUntrustedFile(d.path, "big", { maxBytes: 1024 })).rejects.toThrow("larger than");
  });

  test("appends refuse a symlink and leave its target alone", async () => {
    await using d = tempDir("uf");
    writeFileSync(join(d.path, "victim"), "v\n");
    const root = join(d.path, "git");
    mkdirSync(join(root, "info"), { recursive: true });
    symlinkSync(join(d.path, "victim"), join(root, "info", "exclude"));
    expect(code(() => appendUntrustedFileSync(root, "info/exclude", "x\n"))).toBe("PERMISSION_DENIED");
    expect(readFileSync(join(d.path, "victim"), "utf8")).toBe("v\n");
    appendUntrustedFileSync(root, "info/other", "a\n");
    appendUntrustedFileSync(root, "info/other", "b\n");
    expect(readFileSync(join(root, "info", "other"), "utf8")).toBe("a\nb\n");
  });
});

describe("output caps", () => {
  test("collectOutput stops the command past its limit and says so", async () => {
    let aborted = false;
    const run = async (s: { onStdout?: (b: Buffer) => void; signal?: AbortSignal }) => {
      s.signal?.addEventListener("abort", () => (aborted = true));
      for (let i = 0; i < 10; i++) s.onStdout?.(Buffer.alloc(100));
      return { exitCode: 0 };
    };
    const err = await collectOutput(run, { limit: 550 }).catch((e: NexusError) => e);
    expect((err as NexusError).code).toBe("RESOURCE_EXHAUSTED");
    expect(aborted).toBe(true);
    const ok = await collectOutput(run, { limit: 5000 });
    expect(ok.stdout.length).toBe(1000);
  });

  test("TailBuffer keeps the last bytes", () => {
    const t = new TailBuffer(5);
    t.push(Buffer.from("abc"));
    t.push(Buffer.from("defgh"));
    expect(t.dropped).toBe(3);
    expect(t.toString()).toContain("defgh");
  });
});
