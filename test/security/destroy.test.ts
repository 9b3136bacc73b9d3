// Finding 7: `nexus destroy` (no --force) never silently deletes git-ignored files: they go to
// ~/.nexus/trash with the rest of the worktree, and come back with restore.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Trash } from "../../src/core/trash.ts";
import { makeRepo } from "../helpers/fixtures.ts";
import { harness, rejection, type Harness } from "./harness.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

let h: Harness;
let repo = "";

beforeAll(async () => {
  h = await harness("sec-destroy");
  repo = makeRepo(join(h.root.path, "repo"), { "README.md": "# r\n", ".gitignore": "*.local\n" });
}, 600_000);

afterAll(async () => {
  await h?.close();
});

test("a git-ignored secrets.local survives destroy in the trash, and restore brings it back", async () => {
  const ws = await h.s.workspaces.create({ name: "sec-destroy", path: repo });
  const wt = ws.worktreePath!;
  writeFileSync(join(wt, "secrets.local"), "API_KEY=keep-me\n");
  await h.s.workspaces.destroy("sec-destroy");
  expect(existsSync(wt)).toBe(false);
  const trash = new Trash(h.home);
  const [entry] = trash.list();
  expect(entry).toBeDefined();
  expect(entry!.workspace).toBe("sec-destroy");
  expect(entry!.ignored).toContain("secrets.local");
  expect(readFileSync(join(entry!.path, "secrets.local"), "utf8")).toBe("API_KEY=keep-me\n");
  const back = trash.restore(entry!.id, join(h.root.path, "restored"));
  expect(readFileSync(join(back.path, "secrets.local"), "utf8")).toBe("API_KEY=keep-me\n");
  expect(trash.list()).toEqual([]);
}, 300_000);

test("a clean worktree leaves nothing in the trash; uncommitted work still needs --force, which trashes it", async () => {
  const ws = await h.s.workspaces.create({ name: "sec-destroy-2", path: repo });
  writeFileSync(join(ws.worktreePath!, "draft.txt"), "unsaved\n");
  await rejection(h.s.workspaces.destroy("sec-destroy-2"), "INVALID_STATE");
  await h.s.workspaces.destroy("sec-destroy-2", { force: true });
  const entries = new Trash(h.home).list();
  expect(entries.length).toBe(1);
  expect(entries[0]!.uncommittedCount).toBeGreaterThan(0);
  expect(readFileSync(join(entries[0]!.path, "draft.txt"), "utf8")).toBe("unsaved\n");
  new Trash(h.home).empty();
  const clean = await h.s.workspaces.create({ name: "sec-destroy-3", path: repo });
  await h.s.workspaces.destroy("sec-destroy-3");
  expect(existsSync(clean.worktreePath!)).toBe(false);
  expect(new Trash(h.home).list()).toEqual([]);
}, 300_000);
