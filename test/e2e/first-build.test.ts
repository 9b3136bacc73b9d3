// The first build of the workspace image, as a user meets it: `nexus create` on a base image the
// engine has never built on runs the real Dockerfile (apt and all), and its output shows what the
// build does inside the long apt step (package k of n), not one frozen `Step …` line. The image it
// makes holds no docs, man pages or apt lists, and its files keep their modes. Everything the test
// made is removed: its workspace, its base tag and the workspace image built on it (its own tags).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { contextHash, DEFAULT_BASE_IMAGE } from "../../src/docker/engine.ts";
import { docker, removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E } from "../helpers/cli.ts";

slowTests();

const root = tempDir("e2e-first-build");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
// A base of its own (a new image id): no step of the workspace Dockerfile is in the engine's cache.
const BASE = `nexus-test-first-build:${process.pid}`;
const WORKSPACE_IMAGE = `nexus-workspace:${contextHash(BASE)}`;

// Twenty minutes: the first build on a loaded machine installs the image's packages from nothing.
const nexus = nexusRunner({ home, cwd: repo, timeoutMs: 1_200_000 });

beforeAll(() => {
  requireE2E();
  const made = spawnSync("docker", ["build", "-q", "-t", BASE, "-"], { input: `FROM ${DEFAULT_BASE_IMAGE}\nLABEL dev.nexus.test.first-build=${process.pid}\n`, encoding: "utf8" });
  if (made.status !== 0) throw new Error(`could not make ${BASE}: ${made.stderr}`);
});

afterAll(async () => {
  nexus(["destroy", "fb", "--force"]);
  nexus(["daemon", "stop"]);
  removeLeftovers(home);
  for (const tag of [WORKSPACE_IMAGE, BASE]) spawnSync("docker", ["rmi", tag], { stdio: "ignore" });
  await root[Symbol.asyncDispose]();
});

describe("the first build of the workspace image", () => {
  test(
    "create shows the build's own progress inside the apt step, and the image is lean",
    () => {
      const t0 = Date.now();
      const r = nexus(["create", "fb", "--image", BASE]);
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      console.log(`first build + create on ${BASE}: ${seconds} s`);
      expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
      const lines = r.stderr.split("\n");
      expect(lines.some((l) => /Building the workspace image nexus-workspace:\w+ from nexus-test-first-build/.test(l))).toBe(true);
      expect(lines.some((l) => /Step \d+\/\d+ : RUN apt-get update/.test(l))).toBe(true);
      // Inside that step: what apt does, package k of n (a line every few seconds without a terminal).
      const inside = lines.filter((l) => /\] Step \d+\/\d+: (downloading|unpacking|setting up) [\w.+-]+/.test(l));
      expect(inside.length).toBeGreaterThan(0);
      expect(lines.some((l) => /\] Step \d+\/\d+: (unpacking|setting up) [\w.+-]+ \(\d+\/\d+\)/.test(l) || /packages to install/.test(l))).toBe(true);

      const check = nexus([
        "exec", "fb", "--", "sh", "-c",
        [
          "find /usr/share/doc/git -type f",
          "ls /usr/share/man/man1/git.1.gz 2>/dev/null | wc -l",
          "ls /var/lib/apt/lists | grep -v -x -e lock -e partial | wc -l",
          "find /var/cache/apt -name '*.deb' -o -name '*.bin' | wc -l",
          "stat -c %a /usr/local/sbin/nexus-init /etc/ssh/sshd_config /etc/profile.d/nexus-agent.sh",
          "locale | grep '^LANG='",
          "git --version | cut -d' ' -f1-2",
        ].join("; "),
      ]);
      expect(check.code).toBe(0);
      expect(check.stdout.trim().split("\n")).toEqual(["/usr/share/doc/git/copyright", "0", "0", "0", "755", "644", "644", "LANG=en_US.UTF-8", "git version"]);
      expect(docker("image", "inspect", "--format", "{{.Id}}", WORKSPACE_IMAGE)).toMatch(/^sha256:/);
    },
    1_500_000,
  );
});
