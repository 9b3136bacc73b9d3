// `nexus create` in a repository that describes itself with devcontainer.json, as a user runs it:
// the compiled binary, a local Dockerfile built offline (its base image is on the engine, no registry).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, tearDown } from "../helpers/cli.ts";

slowTests();

const root = tempDir("e2e-dc");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "service"), {
  "README.md": "# service\n",
  // Two configurations, as repositories with a Python and a Node setup have.
  ".devcontainer/python/devcontainer.json": `{
    // The Dockerfile is beside this file; the build context is the folder of devcontainer.json.
    "name": "Python",
    "build": { "dockerfile": "Dockerfile", "args": { "MARK": "offline-build" } },
    "forwardPorts": [8000],
    "portsAttributes": { "8000": { "label": "API" } },
    "remoteEnv": { "APP_ENV": "dev" },
    "postCreateCommand": "echo \\"created in $PWD as $(id -un)\\" > ~/post-create",
  }`,
  ".devcontainer/python/Dockerfile": "FROM debian:bookworm-slim\nARG MARK\nRUN echo \"$MARK\" > /etc/offline-marker\n",
  ".devcontainer/node/devcontainer.json": `{ "image": "debian:bookworm-slim" }`,
});

const nexus = nexusRunner({ home, cwd: repo, timeoutMs: 900_000 });

beforeAll(() => {
  requireE2E();
});

afterAll(() => tearDown(nexus, root));

test("several devcontainer.json: create lists them and makes nothing; --devcontainer picks one, built offline", () => {
  const refused = nexus(["create", "svc"]);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain(".devcontainer/node/devcontainer.json, .devcontainer/python/devcontainer.json");
  expect(refused.stderr).toContain("--devcontainer");
  expect(nexus(["list", "--json"]).stdout).toContain('"workspaces": []');

  const made = nexus(["create", "svc", "--devcontainer", ".devcontainer/python"]);
  expect(made.stderr).toContain(".devcontainer/python/devcontainer.json: image, ports, env.APP_ENV, hooks.post-create");
  expect(made.stderr).toContain("Building the project image");
  expect(made.code).toBe(0);
  expect(made.stdout).toMatch(/port\s+8000 → 127\.0\.0\.1:\d+/);

  const inside = nexus(["exec", "svc", "--", "sh", "-c", 'cat /etc/offline-marker ~/post-create; echo "$APP_ENV"']);
  expect(inside.code).toBe(0);
  // The workspace user is nexus, or root on a root host (it takes the host user's uid).
  const user = nexus(["exec", "svc", "--", "id", "-un"]).stdout.trim();
  expect(["nexus", "root"]).toContain(user);
  expect(inside.stdout).toBe(`offline-build\ncreated in /workspace as ${user}\ndev\n`);

  const status = nexus(["status", "svc"]);
  expect(status.stdout).toMatch(/config\s+\.devcontainer\/python\/devcontainer\.json: image, ports/);
  const json = JSON.parse(nexus(["status", "svc", "--json"]).stdout);
  expect(json.configuration.files).toEqual([join(repo, ".worktree", "svc", ".devcontainer/python/devcontainer.json")]);
  expect(json.ports.services).toEqual(expect.arrayContaining([expect.objectContaining({ name: "api", containerPort: 8000 })]));
}, 1_200_000);
