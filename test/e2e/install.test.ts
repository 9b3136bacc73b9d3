// install.sh as a user runs it: piped into `sh` under a temporary HOME, downloading the compiled
// binary from a local HTTP server that plays the release page.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/fixtures.ts";
import { serveReleases, sha256, writeRelease, type ReleaseServer } from "../helpers/release.ts";
import { exitStatusIn, until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dir, "../..");
const BIN = join(ROOT, "dist", "nexus");
const SCRIPT = readFileSync(join(ROOT, "install.sh"), "utf8");
const root = tempDir("install");
const good = join(root.path, "release");
const bad = join(root.path, "release-bad");
let server: ReleaseServer | undefined;

function install(release: string, home: string, opts: { args?: string[]; path?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync("sh", ["-s", "--", ...(opts.args ?? [])], {
    input: SCRIPT,
    env: {
      PATH: opts.path ?? process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      SHELL: "/bin/bash",
      NEXUS_HOME: join(home, ".nexus"),
      NEXUS_DOWNLOAD_URL: `http://127.0.0.1:${server!.port}/${release}`,
      NO_COLOR: "1",
      ...opts.env,
    },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  if (process.platform !== "linux") throw new Error("this test plays a Linux release");
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run 'npm run build' (npm test does)`);
  writeRelease(good, BIN);
  writeRelease(bad, BIN, { wrongSum: true });
  server = await serveReleases(root.path);
});

afterAll(async () => {
  server?.stop();
  await root[Symbol.asyncDispose]();
});

describe("install.sh", () => {
  test("passes shellcheck", () => {
    const which = spawnSync("sh", ["-c", "command -v shellcheck"], { encoding: "utf8" });
    if (which.status !== 0) throw new Error("shellcheck is missing: npm test installs it (scripts/test.sh), or apt-get install shellcheck");
    const r = spawnSync("shellcheck", ["-s", "sh", join(ROOT, "install.sh")], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  test("installs the binary, which runs; a second run finds it installed", () => {
    const home = join(root.path, "home1");
    mkdirSync(home);
    const dir = join(home, "bin-here");
    const r = install("release", home, { env: { NEXUS_INSTALL_DIR: dir }, args: ["--no-modify-path"] });
    expect(r.stderr).toContain(`Installed nexus to ${dir}/nexus`);
    expect(r.code).toBe(0);
    expect(sha256(join(dir, "nexus"))).toBe(sha256(BIN));
    expect(readdirSync(dir)).toEqual(["nexus"]); // no temp file left beside it
    expect(r.stderr).toContain(`export PATH="${dir}:$PATH"`);
    expect(r.stderr).toContain("nexus daemon install");
    expect(existsSync(join(home, ".bashrc"))).toBe(false); // --no-modify-path
    const v = spawnSync(join(dir, "nexus"), ["version"], { encoding: "utf8", env: { HOME: home, NEXUS_HOME: join(home, ".nexus"), PATH: process.env.PATH } });
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^nexus \d+\.\d+\.\d+/);

    const again = install("release", home, { env: { NEXUS_INSTALL_DIR: dir }, args: ["--no-modify-path"] });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("already installed");
  });

  test("defaults to ~/.nexus/bin; --yes adds the PATH line to the shell rc once", () => {
    const home = join(root.path, "home2");
    mkdirSync(home);
    // --yes also tries `nexus daemon install`; an empty XDG dir keeps it inside this HOME.
    const r = install("release", home, { args: ["--yes"], env: { XDG_CONFIG_HOME: join(home, ".config") } });
    expect(r.code).toBe(0);
    expect(existsSync(join(home, ".nexus", "bin", "nexus"))).toBe(true);
    const rc = readFileSync(join(home, ".bashrc"), "utf8");
    expect(rc).toContain(`export PATH="${home}/.nexus/bin:$PATH"`);
    install("release", home, { args: ["--yes"], env: { XDG_CONFIG_HOME: join(home, ".config") } });
    expect(readFileSync(join(home, ".bashrc"), "utf8")).toBe(rc);
  });

  test("without a TTY and without --yes, no rc file is touched", () => {
    const home = join(root.path, "home3");
    mkdirSync(home);
    const r = install("release", home);
    expect(r.code).toBe(0);
    expect(existsSync(join(home, ".bashrc"))).toBe(false);
    expect(r.stderr).toContain("Add nexus to your PATH");
  });

  test("on a terminal it asks before touching the rc file (read from /dev/tty, as under curl | sh)", async () => {
    const home = join(root.path, "home-tty");
    mkdirSync(home);
    const session = `nexus-install-${process.pid}`;
    const done = join(home, "done");
    const env = `HOME=${home} SHELL=/bin/bash NEXUS_DOWNLOAD_URL=http://127.0.0.1:${server!.port}/release PATH=${process.env.PATH}`;
    const tmux = (...args: string[]) => spawnSync("tmux", args, { encoding: "utf8" });
    const screen = () => tmux("capture-pane", "-p", "-t", session).stdout;
    const waitFor = (text: string) => until(`'${text}' appears on the screen`, screen, (s) => s.includes(text), { intervalMs: 50 });
    try {
      expect(tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "30", `cat ${join(ROOT, "install.sh")} | env -i ${env} sh; echo $? > ${done}; sleep 30`).status).toBe(0);
      await waitFor(`Add ${home}/.nexus/bin to PATH in ${home}/.bashrc? [y/N]`);
      tmux("send-keys", "-t", session, "y", "Enter");
      await waitFor("run: nexus daemon install");
      expect(await exitStatusIn(done, "install.sh exits")).toBe(0);
      expect(readFileSync(join(home, ".bashrc"), "utf8")).toContain(`export PATH="${home}/.nexus/bin:$PATH"`);
    } finally {
      tmux("kill-session", "-t", session);
    }
  });

  test("a checksum mismatch is refused and nothing is installed", () => {
    const home = join(root.path, "home4");
    mkdirSync(home);
    const r = install("release-bad", home);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("checksum mismatch");
    expect(existsSync(join(home, ".nexus", "bin", "nexus"))).toBe(false);
  });

  test("an unsupported platform fails clearly", () => {
    const home = join(root.path, "home5");
    const shim = join(home, "shim");
    mkdirSync(shim, { recursive: true });
    writeFileSync(join(shim, "uname"), "#!/bin/sh\ncase \"$1\" in -s) echo FreeBSD ;; -m) echo amd64 ;; *) echo FreeBSD ;; esac\n");
    chmodSync(join(shim, "uname"), 0o755);
    const r = install("release", home, { path: `${shim}:${process.env.PATH}` });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("unsupported operating system 'FreeBSD'");
    expect(existsSync(join(home, ".nexus", "bin"))).toBe(false);

    writeFileSync(join(shim, "uname"), "#!/bin/sh\ncase \"$1\" in -s) echo Linux ;; -m) echo riscv64 ;; esac\n");
    const r2 = install("release", home, { path: `${shim}:${process.env.PATH}` });
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toContain("unsupported architecture 'riscv64'");
  });
});

describe("the compiled binary", () => {
  test("ignores a bunfig.toml and a .env in the user's folder", () => {
    const dir = join(root.path, "hostile-cwd");
    mkdirSync(dir, { recursive: true });
    const marker = join(dir, "preload-ran");
    writeFileSync(join(dir, "evil.ts"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "x");\n`);
    writeFileSync(join(dir, "bunfig.toml"), `preload = ["./evil.ts"]\n[run]\npreload = ["./evil.ts"]\n`);
    writeFileSync(join(dir, ".env"), `NEXUS_HOME=${join(dir, "from-dotenv")}\nNO_COLOR=\n`);
    const home = join(root.path, "binary-home");
    const r = spawnSync(BIN, ["daemon", "status", "--json"], {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: home, NEXUS_HOME: join(home, ".nexus") },
    });
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout).socket).toBe(join(home, ".nexus", "daemon.sock")); // not the .env's NEXUS_HOME
    expect(existsSync(marker)).toBe(false);
    const v = spawnSync(BIN, ["version"], { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH, HOME: home } });
    expect(v.status).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });
});

describe("npm run build:all", () => {
  test("compiles every target, and SHA256SUMS lists each binary's hash", async () => {
    await using out = tempDir("build-all");
    // Run from the output folder: Bun unpacks a cross target's runtime in a folder it makes in the
    // working directory, and the unprivileged user of scripts/test-nonroot.sh reads the checkout but
    // may not write there (EACCES: every cross target failed). The build itself works from its own folder.
    const r = spawnSync(join(ROOT, "node_modules/.bin/bun"), [join(ROOT, "scripts/build.ts"), "--all", "--outdir", out.path], { encoding: "utf8", cwd: out.path, timeout: 300_000 });
    expect(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts["build:all"]).toBe("bun scripts/build.ts --all");
    expect(r.stderr).not.toContain("FAILED");
    expect(r.status).toBe(0);
    const names = ["nexus-linux-x64", "nexus-linux-arm64", "nexus-darwin-x64", "nexus-darwin-arm64"];
    const sums = readFileSync(join(out.path, "SHA256SUMS"), "utf8").trim().split("\n");
    expect(sums.map((l) => l.split(/\s+/)[1])).toEqual(names);
    for (const line of sums) {
      const [hash, name] = line.split(/\s+/) as [string, string];
      expect(sha256(join(out.path, name))).toBe(hash);
      const magic = readFileSync(join(out.path, name)).subarray(0, 4).toString("hex");
      expect(magic).toBe(name.includes("linux") ? "7f454c46" : "cffaedfe"); // ELF, Mach-O 64-bit
    }
    const host = join(out.path, `nexus-linux-${process.arch === "arm64" ? "arm64" : "x64"}`);
    const v = spawnSync(host, ["version", "--json"], { encoding: "utf8", env: { PATH: process.env.PATH, HOME: out.path, NEXUS_HOME: join(out.path, "nx") } });
    expect(JSON.parse(v.stdout).platform).toBe(`linux-${process.arch}`);
  }, 300_000);
});
