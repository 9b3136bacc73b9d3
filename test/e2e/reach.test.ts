// How a user reaches a workspace, with the compiled binary and the real engine: `nexus url` names the
// healthy service (not a published port with nothing behind it), GET /ssh's connectionCommand works
// as printed, `nexus workspace ssh ws -- "a; b"` runs a shell line as ssh does, Tab completes the
// workspace's name, and plain ssh to a stopped workspace prints the hint alone and fails.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { NEXUS_BIN } from "../helpers/bin.ts";
import { nexusRunner, requireE2E, tearDown } from "../helpers/cli.ts";
import { shellQuote } from "../../src/ssh/quote.ts";

slowTests();

const root = tempDir("e2e-reach");
const home = join(root.path, "nexus");
// A service on 8000 with a health check, and port 9000 published with nothing listening behind it.
const repo = makeRepo(join(root.path, "repo"), {
  "README.md": "# reach\n",
  ".nexus/workspace.yaml": "ports: [9000]\nservices:\n  web:\n    command: python3 -m http.server 8000 --bind 0.0.0.0\n    port: 8000\n    health: { http: /, interval: 1s }\n",
});
// No agent of the host's: the workspace's own key is what connects.
const nexus = nexusRunner({ home, cwd: repo, timeoutMs: 1_200_000, env: { SSH_AUTH_SOCK: undefined } });
const env = nexus.env();

const sh = (line: string) => spawnSync("sh", ["-c", line], { cwd: repo, encoding: "utf8", env, input: "", timeout: 60_000 });

beforeAll(() => {
  requireE2E();
  const r = nexus(["create", "reach", "--json"]);
  if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`);
}, 1_200_000);

afterAll(() => tearDown(nexus, root, ["reach"]));

describe("reaching a workspace", () => {
  test("nexus url names the healthy service, not the published port with nothing behind it", () => {
    const r = nexus(["url", "reach", "--json"]);
    expect(r.code).toBe(0);
    const u = JSON.parse(r.stdout);
    expect(u).toMatchObject({ containerPort: 8000, service: "web", listening: true });
    const page = sh(`curl -fsS -o /dev/null -w '%{http_code}' ${u.url}`);
    expect(page.stdout).toBe("200");
  });

  test("GET /ssh's connectionCommand works as printed", () => {
    const info = sh(`curl -fsS --unix-socket '${join(home, "daemon.sock")}' http://nexus/api/v1/workspaces/reach/ssh`);
    expect(info.status).toBe(0);
    const { connectionCommand } = JSON.parse(info.stdout);
    expect(connectionCommand).toBe(`ssh -F ${join(home, "ssh_config")} nexus-reach`);
    const r = sh(`${connectionCommand} 'echo ok; echo $USER'`);
    expect({ code: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: "ok\nnexus\n", stderr: "" });
  });

  test("nexus workspace ssh ws -- 'a; b' runs a shell line, as ssh does", () => {
    const r = nexus(["workspace", "ssh", "reach", "--", "echo a; echo b", "&&", "echo c"]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: "a\nb\nc\n" });
  });

  test("bash completion offers the workspace's name", () => {
    const bin = join(root.path, "bin");
    mkdirSync(bin, { recursive: true });
    if (!existsSync(join(bin, "nexus"))) writeFileSync(join(bin, "nexus"), `#!/bin/sh\nexec ${shellQuote(NEXUS_BIN)} "$@"\n`, { mode: 0o755 });
    const r = spawnSync("bash", ["-c", `export PATH='${bin}':"$PATH"; source <(nexus completion bash); COMP_WORDS=(nexus exec re); COMP_CWORD=2; _nexus; echo "\${COMPREPLY[@]}"`], {
      encoding: "utf8",
      env,
    });
    expect(r.stdout.trim()).toBe("reach");
  });

  test("plain ssh to a stopped workspace: the hint alone, and a non-zero exit", () => {
    expect(nexus(["stop", "reach", "--timeout", "5"]).code).toBe(0);
    const r = sh(`ssh -F '${join(home, "ssh_config")}' nexus-reach true`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toBe("nexus: workspace 'reach' is stopped; start it with 'nexus start reach'\n");
    const url = nexus(["url", "reach", "--json"]);
    expect(JSON.parse(url.stdout)).toMatchObject({ containerPort: 9000, listening: false });
  }, 120_000);
});
