// The post-attach hook (devcontainer.json's postAttachCommand) through the compiled binary: every
// interactive attach runs it, `nexus console` as well as `nexus workspace ssh`; a command given to
// ssh is no attach. Real Docker, a temporary NEXUS_HOME and git repository.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, tearDown } from "../helpers/cli.ts";

slowTests();

const root = tempDir("pattach");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"), {
  "README.md": "# fixture\n",
  ".nexus/workspace.yaml": "hooks:\n  post-attach: echo attached >> ~/attach-marks\n",
});
const nexus = nexusRunner({ home, cwd: repo });

/** How many times the hook ran, from the mark file it appends to in the home volume. */
const marks = () => nexus(["exec", "pa1", "--", "sh", "-c", "cat ~/attach-marks 2>/dev/null | wc -l"]).stdout.trim();

beforeAll(() => {
  requireE2E();
  const r = nexus(["create", "pa1"]);
  if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`);
}, 900_000);

afterAll(async () => {
  await tearDown(nexus, root, ["pa1"]);
});

describe("post-attach hook", () => {
  test("workspace ssh runs it for a login shell, not for a command", () => {
    expect(nexus(["workspace", "ssh", "pa1", "--", "true"]).code).toBe(0);
    expect(marks()).toBe("0");
    const shell = nexus(["workspace", "ssh", "pa1"], { input: "exit 0\n" });
    expect(shell.code).toBe(0);
    expect(marks()).toBe("1");
  });

  test("console runs it too", () => {
    const r = nexus(["console", "pa1"], { input: "exit 3\n", timeoutMs: 120_000 });
    expect(r.code).toBe(3);
    expect(marks()).toBe("2");
  });

  test("each run is in the operation history", () => {
    const ops = JSON.parse(nexus(["trace", "list", "--workspace", "pa1", "--json"]).stdout) as { operations: Array<{ operation: string; result: string; surface: string }> };
    expect(ops.operations.filter((o) => o.operation === "hook")).toEqual([
      expect.objectContaining({ result: "ok", surface: "cli" }),
      expect.objectContaining({ result: "ok", surface: "cli" }),
    ]);
  });
});
