// The unison provider's fast route: the decision (pure) and the route itself between two folders of
// this machine, the "workspace" side reached through a real `sh` (the same scripts the workspace's
// shell runs over ssh): a file is copied only over a side that still is what both agreed on.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ShellAgent } from "../../src/sync/agent.ts";
import { syncConfigFrom } from "../../src/sync/config.ts";
import { decide, fastPathOk, type FileState } from "../../src/sync/fast-decide.ts";
import { FastRoute } from "../../src/sync/fast-route.ts";
import { parseState, writeScript } from "../../src/sync/fast-script.ts";
import { PythonInside, ShellInside, type InsideFiles } from "../../src/sync/inside-files.ts";
import { ProcessTracker } from "../../src/sync/processes.ts";
import type { SyncSide } from "../../src/sync/types.ts";

const config = syncConfigFrom({});
const file = (hash: string): FileState => ({ kind: "file", hash, size: 1, mode: 0o644, mtime: "1.5" });
const absent: FileState = { kind: "absent", parent: true };
const by = (...s: SyncSide[]) => new Set(s);

describe("decide", () => {
  test("equal sides need nothing; a change on one side only is copied over the other", () => {
    expect(decide({ path: "a", host: file("x"), workspace: file("x"), agreed: undefined, namedBy: by("host"), config })).toEqual({ action: "same", hash: "x" });
    expect(decide({ path: "a", host: file("new"), workspace: file("old"), agreed: "old", namedBy: by("host", "workspace"), config })).toEqual({ action: "copy", from: "host", expect: "old" });
    expect(decide({ path: "a", host: file("old"), workspace: file("new"), agreed: "old", namedBy: by("host"), config })).toEqual({ action: "copy", from: "workspace", expect: "old" });
  });

  test("a change on both sides, a deletion, a folder, a big file or an unknown base go to unison", () => {
    expect(decide({ path: "a", host: file("h"), workspace: file("w"), agreed: "old", namedBy: by("host"), config }).action).toBe("unison");
    expect(decide({ path: "a", host: absent, workspace: file("old"), agreed: "old", namedBy: by("host"), config }).action).toBe("unison");
    expect(decide({ path: "a", host: { kind: "other" }, workspace: absent, agreed: undefined, namedBy: by("host"), config }).action).toBe("unison");
    expect(decide({ path: "a", host: { kind: "big" }, workspace: file("old"), agreed: "old", namedBy: by("host"), config }).action).toBe("unison");
    expect(decide({ path: "a", host: file("h"), workspace: file("w"), agreed: undefined, namedBy: by("host"), config }).action).toBe("unison");
    // The target's folder is missing: unison makes it.
    expect(decide({ path: "d/a", host: file("h"), workspace: { kind: "absent", parent: false }, agreed: undefined, namedBy: by("host"), config }).action).toBe("unison");
  });

  test("a new file: copied when only its own side named it; manual, other strategies for host files, one-way modes inside → host: unison", () => {
    expect(decide({ path: "a", host: file("h"), workspace: absent, agreed: undefined, namedBy: by("host"), config })).toEqual({ action: "copy", from: "host", expect: "absent" });
    expect(decide({ path: "a", host: absent, workspace: file("w"), agreed: undefined, namedBy: by("workspace"), config })).toEqual({ action: "copy", from: "workspace", expect: "absent" });
    expect(decide({ path: "a", host: file("h"), workspace: absent, agreed: undefined, namedBy: by("host", "workspace"), config }).action).toBe("unison");
    expect(decide({ path: "a", host: file("h"), workspace: absent, agreed: undefined, namedBy: by("host"), config: { ...config, strategy: "manual" } }).action).toBe("unison");
    expect(decide({ path: "a", host: file("h"), workspace: absent, agreed: undefined, namedBy: by("host"), config: { ...config, strategy: "workspace-wins" } }).action).toBe("unison");
    expect(decide({ path: "a", host: absent, workspace: file("w"), agreed: undefined, namedBy: by("workspace"), config: { ...config, mode: "one-way-replica" } }).action).toBe("unison");
    expect(decide({ path: "a", host: file("new"), workspace: file("old"), agreed: "old", namedBy: by("host"), config: { ...config, mode: "one-way-safe" } }).action).toBe("copy");
  });

  test("paths it never touches", () => {
    for (const p of [".git/config", "a/.git/HEAD", "../x", "/etc/passwd", "a/../b", "a\nb", "d/.unison.x.unison.tmp", ""]) expect(fastPathOk(p)).toBe(false);
    expect(fastPathOk("src/a b/'q'.ts")).toBe(true);
    expect(decide({ path: ".git/config", host: file("h"), workspace: absent, agreed: undefined, namedBy: by("host"), config }).action).toBe("unison");
  });

  test("the inside answer's lines", () => {
    expect(parseState("A")).toEqual({ kind: "absent", parent: true });
    expect(parseState("N")).toEqual({ kind: "absent", parent: false });
    expect(parseState("B")).toEqual({ kind: "big" });
    expect(parseState("O")).toEqual({ kind: "other" });
    expect(parseState("F 3 644 12.000000001 :eHkK")).toMatchObject({ kind: "file", size: 3, mode: 0o644, mtime: "12.000000001", hash: createHash("md5").update("xy\n").digest("hex") });
    expect(parseState("F 3 644 12 garbage")).toEqual({ kind: "other" });
  });
});

for (const kind of ["python3", "sh"] as const) describe(`the route between two folders, through a real ${kind}`, () => {
  const root = mkdtempSync(join(tmpdir(), "sync-fast-"));
  const host = join(root, "host");
  const ws = join(root, "ws");
  mkdirSync(join(host, "d"), { recursive: true });
  mkdirSync(join(ws, "d"), { recursive: true });
  mkdirSync(join(root, "procs"));
  const procs = new ProcessTracker(join(root, "procs"));
  const inside: InsideFiles = kind === "python3" ? new PythonInside(procs, "sh", ["-c"]) : new ShellInside(procs, "sh", ["-c"]);
  const shell = new ShellAgent(procs, "sh", []);
  const route = new FastRoute(inside, host, ws);
  const named = (entries: Array<[string, SyncSide[]]>) => new Map(entries.map(([p, s]) => [p, new Set(s)] as const));
  const none = () => false;
  afterAll(() => {
    inside.close();
    shell.close();
    rmSync(root, { recursive: true, force: true });
  });

  test("a new host file appears inside with its mode and mtime; a new inside file on the host", async () => {
    writeFileSync(join(host, "d/new.sh"), "echo hi\n");
    chmodSync(join(host, "d/new.sh"), 0o755);
    const r = await route.route(named([["d/new.sh", ["host"]]]), config, none);
    expect(r).toEqual({ settled: ["d/new.sh"], unison: [], copied: [{ path: "d/new.sh", from: "host", bytes: 8 }] });
    expect(readFileSync(join(ws, "d/new.sh"), "utf8")).toBe("echo hi\n");
    expect(statSync(join(ws, "d/new.sh")).mode & 0o777).toBe(0o755);
    expect(Math.abs(statSync(join(ws, "d/new.sh")).mtimeMs - statSync(join(host, "d/new.sh")).mtimeMs)).toBeLessThan(1);

    writeFileSync(join(ws, "d/in.txt"), "");
    const back = await route.route(named([["d/in.txt", ["workspace"]]]), config, none);
    expect(back.copied).toEqual([{ path: "d/in.txt", from: "workspace", bytes: 0 }]);
    expect(readFileSync(join(host, "d/in.txt"), "utf8")).toBe("");
  });

  test("the echo of a copy is found equal and copies nothing", async () => {
    const r = await route.route(named([["d/new.sh", ["workspace"]]]), config, none);
    expect(r).toEqual({ settled: ["d/new.sh"], unison: [], copied: [] });
  });

  test("an edit after an agreed copy goes over; an edit on both sides never does", async () => {
    writeFileSync(join(host, "d/new.sh"), "echo edited\n");
    const r = await route.route(named([["d/new.sh", ["host"]]]), config, none);
    expect(r.copied).toHaveLength(1);
    expect(readFileSync(join(ws, "d/new.sh"), "utf8")).toBe("echo edited\n");
    // Both sides changed (the inside change not even named yet): unison decides, nothing is overwritten.
    writeFileSync(join(ws, "d/new.sh"), "inside version\n");
    writeFileSync(join(host, "d/new.sh"), "host version\n");
    const both = await route.route(named([["d/new.sh", ["host"]]]), config, none);
    expect(both).toEqual({ settled: [], unison: ["d/new.sh"], copied: [] });
    expect(readFileSync(join(ws, "d/new.sh"), "utf8")).toBe("inside version\n");
    expect(readFileSync(join(host, "d/new.sh"), "utf8")).toBe("host version\n");
  });

  test("the write checks the target again: changed since it was read, it is left alone", async () => {
    writeFileSync(join(ws, "cas.txt"), "changed meanwhile\n");
    const w = { path: "cas.txt", expect: "absent", content: Buffer.from("new\n"), mode: 0o644, mtime: "1.0" };
    expect(await inside.write(ws, [w])).toEqual(["skip"]);
    expect((await shell.run(writeScript(ws, [w]))).trim()).toBe("skip");
    expect(readFileSync(join(ws, "cas.txt"), "utf8")).toBe("changed meanwhile\n");
  });

  test("deletions, folders, skipped and excluded paths go to unison untouched", async () => {
    mkdirSync(join(host, "newdir"));
    writeFileSync(join(host, "skipped.txt"), "x");
    const r = await route.route(named([["newdir", ["host"]], ["gone.txt", ["host"]], ["skipped.txt", ["host"]], [".git/HEAD", ["host"]]]), config, (p) => p === "skipped.txt");
    expect(r.copied).toEqual([]);
    expect(r.unison.sort()).toEqual([".git/HEAD", "newdir", "skipped.txt"].sort());
    // Absent on both sides: nothing to do.
    expect(r.settled).toEqual(["gone.txt"]);
    expect(existsSync(join(ws, "skipped.txt"))).toBe(false);
    expect(existsSync(join(ws, "newdir"))).toBe(false);
  });

  test("a path the workspace names through a link of the worktree is neither written nor read here (unison's)", async () => {
    // The attack: the worktree holds a link `evil -> <outside>`; the workspace claims `evil/authorized_keys`.
    const outside = join(root, "outside");
    mkdirSync(outside);
    writeFileSync(join(outside, "secret"), "host secret\n");
    symlinkSync(outside, join(host, "evil"));
    mkdirSync(join(ws, "evil"));
    writeFileSync(join(ws, "evil/authorized_keys"), "ssh-ed25519 AAAA attacker\n");
    writeFileSync(join(ws, "evil/secret"), "host secret\n");
    const r = await route.route(named([["evil/authorized_keys", ["workspace"]], ["evil/secret", ["workspace"]]]), config, none);
    expect(r.copied).toEqual([]);
    expect(r.unison.sort()).toEqual(["evil/authorized_keys", "evil/secret"]);
    expect(existsSync(join(outside, "authorized_keys"))).toBe(false);
    expect(readdirSync(outside)).toEqual(["secret"]);
  });

  test("a path with quotes and spaces", async () => {
    writeFileSync(join(host, "d/it's a file.txt"), "q\n");
    const r = await route.route(named([["d/it's a file.txt", ["host"]]]), config, none);
    expect(r.copied).toHaveLength(1);
    expect(readFileSync(join(ws, "d/it's a file.txt"), "utf8")).toBe("q\n");
  });
});
