// A project's build context honours its .dockerignore as `docker build` does.
import { afterAll, describe, expect, test } from "bun:test";
import { contextEntries } from "../../src/docker/build-context.ts";
import { tempDir, writeFiles, type TempDir } from "../helpers/fixtures.ts";

const dirs: TempDir[] = [];
afterAll(async () => { for (const d of dirs) await d[Symbol.asyncDispose](); });

function project(files: Record<string, string>): string {
  const dir = tempDir("nexus-build-context");
  dirs.push(dir);
  return writeFiles(dir.path, files);
}

const names = (dir: string, opts?: Parameters<typeof contextEntries>[1]) => contextEntries(dir, opts).map((e) => e.name);

describe("contextEntries", () => {
  const files = {
    Dockerfile: "FROM debian\nCOPY . /app\n",
    ".dockerignore": "secrets.env\nnode_modules\n*.log\n!keep.log\nbuild/**\n!build/dist/app.js\nDockerfile\n",
    "secrets.env": "TOKEN=1",
    "app.ts": "x",
    "debug.log": "noise",
    "keep.log": "wanted",
    "node_modules/pkg/index.js": "y",
    "build/tmp/o.o": "z",
    "build/dist/app.js": "kept by an exception",
  };

  test("an ignored file does not reach the context; exceptions and the Dockerfile do", () => {
    const got = names(project(files), { dockerignore: true, keep: ["Dockerfile"] });
    expect(got).not.toContain("secrets.env");
    expect(got).not.toContain("debug.log");
    expect(got).not.toContain("node_modules");
    expect(got).not.toContain("node_modules/pkg/index.js");
    expect(got).not.toContain("build/tmp/o.o");
    expect(got).toContain("keep.log");
    expect(got).toContain("build/dist/app.js");
    expect(got).toContain("app.ts");
    expect(got).toContain(".dockerignore");
    expect(got).toContain("Dockerfile");
  });

  test("without dockerignore (a feature folder) every file travels", () => {
    const got = names(project(files));
    expect(got).toContain("secrets.env");
    expect(got).toContain("node_modules/pkg/index.js");
  });

  test("no .dockerignore: the whole folder", () => {
    expect(names(project({ Dockerfile: "FROM debian\n", "a/b.txt": "b" }), { dockerignore: true })).toEqual(["a", "a/b.txt", "Dockerfile"]);
  });
});
