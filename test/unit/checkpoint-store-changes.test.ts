// The tar of a checkpoint's changed paths kept beside its record (fill.ts keepChangesTar): removed
// with the checkpoint, and one whose record is gone (a daemon that died) is a stray for reconcile,
// as is the temporary file of a record or journal write the daemon was killed in.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CheckpointStore } from "../../src/store/checkpoints.ts";
import type { CheckpointRecord } from "../../src/store/checkpoint-types.ts";

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const record = (id: string) => ({ id, name: id, workspaceId: "w", workspaceName: "w", createdAt: new Date().toISOString(), state: "ready" }) as unknown as CheckpointRecord;

describe("the kept changes tar", () => {
  test("sits beside the record, goes with remove(), partial files too", () => {
    dir = mkdtempSync(join(tmpdir(), "ckpt-store-"));
    const store = new CheckpointStore(dir);
    store.save(record("ckpt-0a1b2c3d4e5f"));
    const file = store.changesFile("ckpt-0a1b2c3d4e5f");
    expect(file).toBe(join(dir, "ckpt-0a1b2c3d4e5f.changes.tar"));
    writeFileSync(file, "x");
    writeFileSync(`${file}.partial`, "x");
    expect(store.strays()).toEqual([]);
    store.remove("ckpt-0a1b2c3d4e5f");
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.partial`)).toBe(false);
  });

  test("one of no record (whole or partial) is a stray; a kept record's is not", () => {
    dir = mkdtempSync(join(tmpdir(), "ckpt-store-"));
    const store = new CheckpointStore(dir);
    store.save(record("ckpt-00000000000a"));
    writeFileSync(store.changesFile("ckpt-00000000000a"), "x");
    writeFileSync(store.changesFile("ckpt-00000000000b"), "x");
    writeFileSync(`${store.changesFile("ckpt-00000000000c")}.partial`, "x");
    expect(store.strays().sort()).toEqual([store.changesFile("ckpt-00000000000b"), `${store.changesFile("ckpt-00000000000c")}.partial`]);
  });

  test("the temporary file of a record or restore journal a killed daemon was writing is a stray", () => {
    dir = mkdtempSync(join(tmpdir(), "ckpt-store-"));
    const store = new CheckpointStore(dir);
    store.save(record("ckpt-00000000000a"));
    for (const f of [".restore-ws-7b9f437c15c7.json.bf31cdb5.tmp", ".ckpt-00000000000a.json.0a1b2c3d.tmp", "restore-ws-1.json", ".other.tmp"]) writeFileSync(join(dir, f), "x");
    expect(store.strays().sort()).toEqual([join(dir, ".ckpt-00000000000a.json.0a1b2c3d.tmp"), join(dir, ".restore-ws-7b9f437c15c7.json.bf31cdb5.tmp")]);
  });
});
