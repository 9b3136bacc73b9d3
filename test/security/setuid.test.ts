// Finding 4: nothing a workspace leaves in its worktree may carry more rights than the host user:
// no setuid/setgid files, no device nodes, no file capabilities, no root processes won through
// sudo unless the project asks for it, and a pids limit. Each attack runs in a real container,
// as the workspace's own root (`docker exec -u 0`: what sudo gave before), and is checked on the host.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { docker } from "../helpers/docker.ts";
import { makeRepo } from "../helpers/fixtures.ts";
import { harness, type Harness } from "./harness.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

let h: Harness;
let worktree = "";
let sudoWorktree = "";

beforeAll(async () => {
  h = await harness("sec-setuid");
  const repo = makeRepo(join(h.root.path, "repo"));
  worktree = (await h.s.workspaces.create({ name: "sec-setuid", path: repo })).worktreePath!;
  const sudoRepo = makeRepo(join(h.root.path, "sudo-repo"), { "README.md": "# s\n", ".nexus/workspace.yaml": "sudo: true\n" });
  sudoWorktree = (await h.s.workspaces.create({ name: "sec-setuid-sudo", path: sudoRepo })).worktreePath!;
}, 600_000);

afterAll(async () => {
  await h?.close();
});

function setIdBits(path: string): number {
  return lstatSync(path).mode & 0o6000;
}

describe("the worktree holds nothing with more rights than the host user", () => {
  test("root inside cannot make a setuid-root shell in the worktree (chmod 4755, chmod g+s, install -m)", () => {
    const r = h.rootSh("sec-setuid", "cp /bin/bash /workspace/rootshell; chmod 4755 /workspace/rootshell; chmod g+s /workspace/rootshell; install -m 6755 /bin/bash /workspace/rootshell2; echo done");
    expect(r.stdout).toContain("done");
    expect(r.stderr).toContain("Operation not permitted");
    expect(existsSync(join(worktree, "rootshell"))).toBe(true);
    expect(setIdBits(join(worktree, "rootshell"))).toBe(0);
    if (existsSync(join(worktree, "rootshell2"))) expect(setIdBits(join(worktree, "rootshell2"))).toBe(0);
  }, 120_000);

  test("nor by creating the file with the bits (open/creat mode), nor through python's chmod", () => {
    const r = h.rootSh(
      "sec-setuid",
      `python3 - <<'PY'
import os
for attempt in ("open", "chmod"):
    try:
        if attempt == "open":
            os.close(os.open("/workspace/created", os.O_CREAT | os.O_WRONLY, 0o4755))
        else:
            open("/workspace/chmodded", "w").close(); os.chmod("/workspace/chmodded", 0o2755)
        print(attempt, "allowed")
    except PermissionError:
        print(attempt, "refused")
PY`,
    );
    expect(r.stdout).toContain("open refused");
    expect(r.stdout).toContain("chmod refused");
    for (const f of ["created", "chmodded"]) if (existsSync(join(worktree, f))) expect(setIdBits(join(worktree, f))).toBe(0);
  }, 120_000);

  test("no device nodes and no file capabilities", () => {
    const r = h.rootSh(
      "sec-setuid",
      `mknod /workspace/mem c 1 1; mknod /workspace/disk b 8 0; python3 -c "
import os
open('/workspace/capped','w').close()
try:
    os.setxattr('/workspace/capped', 'security.capability', bytes([1,0,0,2, 0,0x20,0,0, 0,0,0,0, 0,0,0,0, 0,0,0,0]))
    print('setcap allowed')
except OSError as e:
    print('setcap refused', e.errno)
"`,
    );
    expect(r.stdout).toContain("setcap refused");
    for (const f of ["mem", "disk"]) expect(existsSync(join(worktree, f))).toBe(false);
  }, 120_000);

  test("the workspace user gains nothing from setuid programs (sudo included) unless the project says sudo: true", async () => {
    const r = await h.sh("sec-setuid", "grep NoNewPrivs /proc/self/status; id -u; sudo -n true 2>&1; echo sudo=$?");
    expect(r.stdout).toMatch(/NoNewPrivs:\s+1/);
    // A uid-0 workspace user (a root host) is root already; any other gets no root through sudo.
    if (!r.stdout.split("\n").includes("0")) expect(r.stdout).not.toContain("sudo=0");
    const s = await h.sh("sec-setuid-sudo", "grep NoNewPrivs /proc/self/status; sudo -n true && echo sudo-ok");
    expect(s.stdout).toMatch(/NoNewPrivs:\s+0/);
    expect(s.stdout).toContain("sudo-ok");
    // With sudo, root still cannot leave a setuid file behind.
    const t = await h.sh("sec-setuid-sudo", "sudo cp /bin/bash /workspace/x; sudo chmod 4755 /workspace/x; echo done");
    expect(t.stdout).toContain("done");
    expect(setIdBits(join(sudoWorktree, "x"))).toBe(0);
  }, 120_000);

  test("a pids limit holds a fork bomb inside the workspace (preset medium: 2048)", async () => {
    const id = h.s.workspaces.resolve("sec-setuid").containerId!;
    const limit = Number(docker("inspect", "-f", "{{.HostConfig.PidsLimit}}", id));
    expect(limit).toBeGreaterThan(0);
    const r = await h.sh("sec-setuid", "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max");
    expect(Number(r.stdout.trim())).toBe(limit);
  }, 120_000);
});
