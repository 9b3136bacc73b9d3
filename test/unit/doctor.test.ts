// `nexus doctor` as a process, against a temporary NEXUS_HOME and an engine address that does not
// exist (unit tests never open Docker): every failing check says how to fix it, and the exit code says.
import { describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const NO_ENGINE = "unix:///nonexistent/nexus-doctor-test-docker.sock";

interface Check {
  name: string;
  status: "ok" | "warn" | "fail";
  message: string;
  fix?: string;
}

function doctor(home: string, env: Record<string, string> = {}, json = true) {
  const r = spawnSync(BUN, [join(ROOT, "src/main.ts"), "doctor", ...(json ? ["--json"] : [])], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: join(home, "home"), NEXUS_HOME: join(home, "nexus"), DOCKER_HOST: NO_ENGINE, NO_COLOR: "1", ...env },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const byName = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.name, c]));

describe("nexus doctor", () => {
  test("--json lists every check; no engine fails with a fix, and the exit code is non-zero", async () => {
    await using dir = tempDir("doctor");
    const r = doctor(dir.path);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
    expect(out.ok).toBe(false);
    const c = byName(out.checks);
    expect(Object.keys(c)).toEqual(["config", "docker", "image", "git", "ssh", "ssh-agent", "ports", "daemon", "home", "disk", "workspace-user"]);
    expect(c.docker!.status).toBe("fail");
    expect(c.docker!.message).toContain("/nonexistent/nexus-doctor-test-docker.sock");
    expect(c.docker!.fix).toContain("docker");
    expect(c.git!.status).toBe("ok");
    expect(c.ssh!.message).toContain("OpenSSH");
    expect(c["ssh-agent"]!.status).toBe("warn");
    expect(c.ports!.status).toBe("ok");
    expect(c.daemon).toMatchObject({ status: "warn", message: "not running" });
    expect(c.disk!.message).toMatch(/GB free/);
    for (const check of out.checks) if (check.status !== "ok") expect(check.fix).toBeTruthy();
  });

  test("the human report marks failures and their fixes", async () => {
    await using dir = tempDir("doctor");
    const r = doctor(dir.path, {}, false);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ docker/);
    expect(r.stdout).toMatch(/→ Start Docker/);
    expect(r.stdout).toMatch(/1 check\(s\) failed/);
  });

  test("finds a NEXUS_HOME others can read, a socket with a loose mode, and an invalid config", async () => {
    await using dir = tempDir("doctor");
    const home = join(dir.path, "nexus");
    mkdirSync(home, { mode: 0o755 });
    chmodSync(home, 0o755);
    writeFileSync(join(home, "daemon.sock"), "", { mode: 0o644 });
    writeFileSync(join(home, "config.yaml"), "defaults:\n  resources: huge\n");
    const c = byName((JSON.parse(doctor(dir.path).stdout) as { checks: Check[] }).checks);
    expect(c.home).toMatchObject({ status: "fail", fix: `chmod 700 ${home}` });
    expect(c.socket!.status).toBe("fail");
    expect(c.socket!.fix).toContain("chmod 600");
    expect(c.config!.status).toBe("fail");
    expect(c.config!.message).toContain("config.yaml:2: defaults.resources");
  });

  test("checks the effective config: NEXUS_* variables are named, and an invalid one fails with its fix", async () => {
    await using dir = tempDir("doctor");
    const shown = byName((JSON.parse(doctor(dir.path, { NEXUS_SSH_PORT_RANGE_START: "33000", NEXUS_SSH_PORT_RANGE_END: "33010" }).stdout) as { checks: Check[] }).checks);
    expect(shown.config).toMatchObject({ status: "ok" });
    expect(shown.config!.message).toContain("overridden by NEXUS_SSH_PORT_RANGE_START, NEXUS_SSH_PORT_RANGE_END");
    expect(shown.ports!.message).toContain("ssh.port_range 33000-33010");
    const bad = byName((JSON.parse(doctor(dir.path, { NEXUS_DEFAULTS_IDLE_ACTION: "sleep" }).stdout) as { checks: Check[] }).checks);
    expect(bad.config).toMatchObject({ status: "fail", fix: "Fix or unset NEXUS_DEFAULTS_IDLE_ACTION" });
    expect(bad.config!.message).toContain("NEXUS_DEFAULTS_IDLE_ACTION=sleep: defaults.idle_action");
  });

  test("a real ssh-agent with no keys answers, and says so", async () => {
    await using dir = tempDir("doctor");
    const sock = join(dir.path, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    try {
      await until("ssh-agent listens", () => existsSync(sock));
      const c = byName((JSON.parse(doctor(dir.path, { SSH_AUTH_SOCK: sock }).stdout) as { checks: Check[] }).checks);
      expect(c["ssh-agent"]).toMatchObject({ status: "warn", message: `${sock} answers but holds no keys` });
      const gone = byName((JSON.parse(doctor(dir.path, { SSH_AUTH_SOCK: join(dir.path, "nope.sock") }).stdout) as { checks: Check[] }).checks);
      expect(gone["ssh-agent"]!.message).toContain("does not exist");
    } finally {
      agent.kill();
    }
  });
});
