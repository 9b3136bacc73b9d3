// Which sudo a new workspace gets (core/workspace/sudo.ts): the project's at a plain create; from a
// checkpoint, its workspace's, whatever the checkpoint's files say, unless the user's config decides.
import { describe, expect, test } from "bun:test";
import { createSudo } from "../../src/core/workspace/sudo.ts";

describe("createSudo", () => {
  test("a plain create follows the project (the user's config is merged into it)", () => {
    expect(createSudo("w", {}, undefined, undefined)).toEqual({ sudo: false });
    expect(createSudo("w", { sudo: false }, undefined, undefined)).toEqual({ sudo: false });
    expect(createSudo("w", { sudo: true }, undefined, undefined)).toEqual({ sudo: true });
  });

  test("from a checkpoint: a .nexus/workspace.yaml written inside a workspace without sudo does not give the next one sudo, and the create says so", () => {
    const choice = createSudo("copy", { sudo: true }, { sudo: false }, undefined);
    expect(choice.sudo).toBe(false);
    expect(choice.note).toContain("sudo stays off");
    expect(choice.note).toContain("workspaces.copy.sudo: true");
  });

  test("from a checkpoint: a workspace that had sudo keeps it in the copy, saying so when its file no longer asks", () => {
    expect(createSudo("copy", { sudo: true }, { sudo: true }, undefined)).toEqual({ sudo: true });
    const choice = createSudo("copy", {}, { sudo: true }, undefined);
    expect(choice.sudo).toBe(true);
    expect(choice.note).toContain("workspaces.copy.sudo: false");
    expect(createSudo("copy", {}, { sudo: false }, undefined)).toEqual({ sudo: false });
  });

  test("from a checkpoint: workspaces.<name>.sudo of the user's config decides, either way, with nothing to say", () => {
    expect(createSudo("copy", { sudo: true }, { sudo: false }, true)).toEqual({ sudo: true });
    expect(createSudo("copy", { sudo: false }, { sudo: true }, false)).toEqual({ sudo: false });
  });
});
