// The daemon as an OS service: one description rendered to a systemd unit and a launchd plist, both
// checked by the real tools (systemd-analyze, python3's plistlib), installed and removed under a temp HOME.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { installService, runCommand, serviceKind, uninstallService, type ServiceHost } from "../../src/service/install.ts";
import { renderLaunchdPlist, renderSystemdUnit, servicePath, type ServiceDescription } from "../../src/service/service.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dirname, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");

const svc = (over: Partial<ServiceDescription> = {}): ServiceDescription => ({
  name: "nexus",
  label: "dev.nexus.daemon",
  description: "Nexus daemon",
  execPath: "/bin/sh",
  args: ["daemon"],
  env: { PATH: "/usr/local/bin:/usr/bin:/bin", NEXUS_HOME: "/home/u/.nexus" },
  logPath: "/home/u/.nexus/daemon.log",
  ...over,
});

/** systemd-analyze from Debian's systemd package; installed when missing and apt can. */
function systemdAnalyze(): string {
  const which = () => spawnSync("sh", ["-c", "command -v systemd-analyze"], { encoding: "utf8" }).stdout.trim();
  if (!which() && process.getuid?.() === 0) spawnSync("apt-get", ["install", "-y", "systemd"], { stdio: "ignore", timeout: 300_000 });
  const found = which();
  if (!found) throw new Error("systemd-analyze is missing: apt-get install systemd");
  return found;
}

/** `systemd-analyze --user verify`: a throwaway XDG_RUNTIME_DIR lets it run without a user manager. */
function verifyUnit(file: string, user: boolean): string {
  const bin = systemdAnalyze();
  const runtime = tempDir("xdg-runtime");
  const r = spawnSync(bin, [...(user ? ["--user"] : []), "verify", file], {
    encoding: "utf8",
    env: { ...process.env, XDG_RUNTIME_DIR: runtime.path, SYSTEMD_LOG_COLOR: "0" },
  });
  void runtime[Symbol.asyncDispose]();
  // verify exits 0 on mere warnings, so any output is a finding.
  return `${r.status === 0 ? "" : `exit ${r.status}\n`}${r.stdout}${r.stderr}`.trim();
}

function parsePlist(file: string): Record<string, unknown> {
  const r = spawnSync("python3", ["-c", "import plistlib,sys,json; print(json.dumps(plistlib.load(open(sys.argv[1],'rb'))))", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`plistlib refused ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe("systemd unit", () => {
  test("user unit: absolute ExecStart, Restart=on-failure, PATH, log, default.target; systemd-analyze accepts it", async () => {
    await using dir = tempDir("unit");
    const text = renderSystemdUnit(svc(), false);
    expect(text).toContain("\nExecStart=/bin/sh daemon\n");
    expect(text).toContain("\nRestart=on-failure\n");
    expect(text).toContain("\nEnvironment=PATH=/usr/local/bin:/usr/bin:/bin\n");
    expect(text).toContain("\nStandardOutput=append:/home/u/.nexus/daemon.log\n");
    expect(text).toContain("\nWantedBy=default.target\n");
    expect(text).not.toContain("User=");
    const file = join(dir.path, "nexus.service");
    writeFileSync(file, text);
    expect(verifyUnit(file, true)).toBe("");
  });

  test("the verifier does catch a broken unit (so the check above means something)", async () => {
    await using dir = tempDir("unit");
    const file = join(dir.path, "nexus.service");
    writeFileSync(file, renderSystemdUnit(svc(), false).replace("Restart=on-failure", "Restart=sometimes"));
    expect(verifyUnit(file, true)).toContain("restart specifier");
  });

  test("system unit: User= and multi-user.target; paths with spaces are quoted", async () => {
    await using dir = tempDir("unit");
    mkdirSync(join(dir.path, "my bin"));
    const exe = join(dir.path, "my bin", "nexus");
    writeFileSync(exe, "#!/bin/sh\n", { mode: 0o755 });
    const text = renderSystemdUnit(svc({ execPath: exe, user: "root" }), true);
    expect(text).toContain(`ExecStart="${exe}" daemon`);
    expect(text).toContain("\nUser=root\n");
    expect(text).toContain("\nWantedBy=multi-user.target\n");
    const file = join(dir.path, "nexus.service");
    writeFileSync(file, text);
    expect(verifyUnit(file, false)).toBe("");
  });
});

describe("launchd plist", () => {
  test("parses, and has Label, ProgramArguments, KeepAlive, RunAtLoad, logs and PATH", async () => {
    await using dir = tempDir("plist");
    const file = join(dir.path, "dev.nexus.daemon.plist");
    writeFileSync(file, renderLaunchdPlist(svc({ execPath: "/Users/a & b/nexus", env: { PATH: "/usr/bin:/bin", NEXUS_HOME: "/Users/x/.nexus" } })));
    const p = parsePlist(file);
    expect(p.Label).toBe("dev.nexus.daemon");
    expect(p.ProgramArguments).toEqual(["/Users/a & b/nexus", "daemon"]);
    expect(p.KeepAlive).toBe(true);
    expect(p.RunAtLoad).toBe(true);
    expect(p.StandardOutPath).toBe("/home/u/.nexus/daemon.log");
    expect(p.StandardErrorPath).toBe("/home/u/.nexus/daemon.log");
    expect(p.EnvironmentVariables).toEqual({ PATH: "/usr/bin:/bin", NEXUS_HOME: "/Users/x/.nexus" });
  });
});

describe("install and uninstall", () => {
  test("kinds and paths per platform", () => {
    expect(serviceKind("linux", false)).toBe("systemd-user");
    expect(serviceKind("linux", true)).toBe("systemd-system");
    expect(serviceKind("darwin", false)).toBe("launchd");
    expect(() => serviceKind("darwin", true)).toThrow("--system");
    expect(() => serviceKind("win32", false)).toThrow("not supported");
    expect(servicePath("systemd-user", "/h")).toBe("/h/.config/systemd/user/nexus.service");
    expect(servicePath("systemd-user", "/h", "/x")).toBe("/x/systemd/user/nexus.service");
    expect(servicePath("systemd-system", "/h")).toBe("/etc/systemd/system/nexus.service");
    expect(servicePath("launchd", "/h")).toBe("/h/Library/LaunchAgents/dev.nexus.daemon.plist");
  });

  test("install writes the unit (and says what to run when systemd is not reachable); uninstall removes it", async () => {
    await using home = tempDir("svc-home");
    const host: ServiceHost = { platform: "linux", home: home.path, uid: process.getuid?.() ?? 0, run: runCommand };
    const reachable = runCommand("systemctl", ["--user", "show-environment"]).ok;
    if (reachable) return; // would enable a real service on this machine; the CLI test below covers the file
    const r = installService("systemd-user", svc(), host);
    expect(r.path).toBe(join(home.path, ".config/systemd/user/nexus.service"));
    expect(readFileSync(r.path, "utf8")).toBe(renderSystemdUnit(svc(), false));
    expect(r.activated).toBe(false);
    expect(r.manualSteps).toEqual(["systemctl --user daemon-reload", "systemctl --user enable --now nexus.service"]);
    const u = uninstallService("systemd-user", host);
    expect(u.changed).toBe(true);
    expect(existsSync(r.path)).toBe(false);
    expect(uninstallService("systemd-user", host).changed).toBe(false);
  });

  test("launchd where launchctl is missing: the plist is written and the command to run returned", async () => {
    await using home = tempDir("svc-home");
    const host: ServiceHost = { platform: "darwin", home: home.path, uid: 501, run: runCommand };
    if (runCommand("launchctl", ["help"]).ok) return; // a real Mac: not here
    const r = installService("launchd", svc(), host);
    expect(r.manualSteps).toEqual([`launchctl bootstrap gui/501 ${r.path}`]);
    expect(parsePlist(r.path).Label).toBe("dev.nexus.daemon");
    uninstallService("launchd", host);
    expect(existsSync(r.path)).toBe(false);
  });

  test("nexus daemon install --print / install / uninstall through the CLI, under a temporary HOME", async () => {
    await using dir = tempDir("svc-cli");
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir.path, NEXUS_HOME: join(dir.path, "nx"), NO_COLOR: "1" };
    const cli = (...args: string[]) => spawnSync(BUN, [join(ROOT, "src/main.ts"), ...args], { encoding: "utf8", env, cwd: ROOT });
    const printed = cli("daemon", "install", "--print", "--json");
    expect(printed.status).toBe(0);
    const p = JSON.parse(printed.stdout);
    const unitPath = join(dir.path, ".config/systemd/user/nexus.service");
    expect(p).toMatchObject({ kind: "systemd-user", path: unitPath });
    // The CLI runs under Bun here whatever runs this file: the unit names Bun's own executable.
    const bunPath = spawnSync(BUN, ["-e", "process.stdout.write(process.execPath)"], { encoding: "utf8" }).stdout;
    expect(p.content).toContain(`ExecStart=${bunPath} ${join(ROOT, "src/main.ts")} daemon`);
    expect(p.content).toContain(`Environment=NEXUS_HOME=${join(dir.path, "nx")}`);
    expect(existsSync(unitPath)).toBe(false); // --print writes nothing
    // A system unit names a real user even where $USER is unset (Bun's userInfo() then says "unknown").
    const system = cli("daemon", "install", "--print", "--system", "--json");
    const user = /\nUser=(\S+)\n/.exec(JSON.parse(system.stdout).content)?.[1];
    expect([String(process.getuid!()), spawnSync("id", ["-un"], { encoding: "utf8" }).stdout.trim()]).toContain(user!);
    if (runCommand("systemctl", ["--user", "show-environment"]).ok) return;
    const inst = cli("daemon", "install");
    expect(inst.status).toBe(0);
    expect(inst.stdout).toContain(`Wrote ${unitPath}`);
    expect(inst.stdout).toContain("systemctl --user enable --now nexus.service");
    expect(readFileSync(unitPath, "utf8")).toBe(p.content);
    const un = cli("daemon", "uninstall");
    expect(un.status).toBe(0);
    expect(existsSync(unitPath)).toBe(false);
  });
});
