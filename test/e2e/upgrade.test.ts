// `nexus upgrade` as a user runs it: a copy of the compiled binary replaces itself with a release
// served from a local HTTP folder (the layout install.sh downloads: nexus-<os>-<arch>, SHA256SUMS,
// VERSION). The "newer" release is the same source built with another version label.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/fixtures.ts";
import { ASSET, serveReleases, sha256, writeRelease, type ReleaseServer } from "../helpers/release.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const ROOT = resolve(import.meta.dir, "../..");
const DIST = join(ROOT, "dist", "nexus");
const NEW_VERSION = "9.9.9";
const root = tempDir("upgrade");
const binDir = join(root.path, "bin");
const bin = join(binDir, "nexus");
const home = join(root.path, "nexus-home");
const www = join(root.path, "www");
let server: ReleaseServer | undefined;
let oldVersion = "";

function nexus(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(bin, args, {
    env: { ...process.env, NEXUS_HOME: home, NO_COLOR: "1", NEXUS_RELEASES_URL: `http://127.0.0.1:${server!.port}/releases`, ...env },
    encoding: "utf8",
    timeout: 300_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run 'npm run build'`);
  mkdirSync(binDir, { recursive: true });
  copyFileSync(DIST, bin);
  oldVersion = JSON.parse(spawnSync(DIST, ["version", "--json"], { encoding: "utf8", env: { ...process.env, NEXUS_HOME: home } }).stdout).version;
  // The same source, labelled 9.9.9 by the build's define.
  const built = spawnSync(join(ROOT, "node_modules", ".bin", "bun"), ["scripts/build.ts", "--version", NEW_VERSION, "--outdir", join(root.path, "new")], { cwd: ROOT, encoding: "utf8", timeout: 600_000 });
  if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
  const newBin = join(root.path, "new", "nexus");
  writeRelease(join(www, "releases", "latest", "download"), newBin, { version: NEW_VERSION });
  writeRelease(join(www, "releases", "download", `v${NEW_VERSION}`), newBin, { version: NEW_VERSION });
  writeRelease(join(www, "releases", "download", `v${oldVersion}`), DIST, { version: oldVersion });
  writeRelease(join(www, "bad"), newBin, { version: NEW_VERSION, wrongSum: true });
  // Folders without a VERSION file: the old binary, and the new one.
  writeRelease(join(www, "unversioned-old"), DIST);
  writeRelease(join(www, "unversioned-new"), newBin);
  server = await serveReleases(www);
}, 900_000);

afterAll(async () => {
  if (existsSync(bin)) nexus(["daemon", "stop"]);
  server?.stop();
  await root[Symbol.asyncDispose]();
});

describe("nexus upgrade", () => {
  test("--check reports the installed and the available version and changes nothing", () => {
    const before = sha256(bin);
    const r = nexus(["upgrade", "--check"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`nexus ${oldVersion} is installed; ${NEW_VERSION} is available`);
    const json = JSON.parse(nexus(["upgrade", "--check", "--json"]).stdout);
    expect(json).toMatchObject({ current: oldVersion, available: NEW_VERSION, upToDate: false, binary: bin });
    expect(sha256(bin)).toBe(before);
  });

  test("a checksum mismatch is refused and nothing is replaced (nor left behind)", () => {
    const before = sha256(bin);
    const r = nexus(["upgrade"], { NEXUS_DOWNLOAD_URL: `http://127.0.0.1:${server!.port}/bad` });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`Checksum mismatch for ${ASSET}`);
    expect(r.stderr).toContain("nothing was replaced");
    expect(sha256(bin)).toBe(before);
    expect(readdirSync(binDir)).toEqual(["nexus"]);
  });

  test("replaces the binary and restarts the daemon the CLI started on the new version", () => {
    expect(nexus(["daemon", "start"]).code).toBe(0);
    const before = JSON.parse(nexus(["daemon", "status", "--json"]).stdout);
    expect(before.version).toBe(oldVersion);
    const r = nexus(["upgrade"]);
    expect(r.stderr + r.stdout).not.toContain("Error");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Upgraded nexus ${oldVersion} → ${NEW_VERSION} (${bin})`);
    expect(r.stdout).toContain(`Restarted the daemon (cli): ${oldVersion} → ${NEW_VERSION}`);
    expect(sha256(bin)).toBe(sha256(join(root.path, "new", "nexus")));
    expect(readdirSync(binDir)).toEqual(["nexus"]);
    const v = JSON.parse(nexus(["version", "--json"]).stdout);
    expect(v.version).toBe(NEW_VERSION);
    expect(v.daemon.version).toBe(NEW_VERSION);
    expect(v.daemon.pid).not.toBe(before.pid);
    // Again: nothing to do.
    const again = nexus(["upgrade"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("is up to date");
    expect(JSON.parse(nexus(["upgrade", "--check", "--json"]).stdout).upToDate).toBe(true);
  }, 300_000);

  test("--version installs that release (here back to the old one); an unknown one is NOT_FOUND", () => {
    const missing = nexus(["upgrade", "--version", "7.7.7"]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain("/releases/download/v7.7.7");
    expect(nexus(["upgrade", "--version", "not-a-version"]).code).toBe(2);
    const r = nexus(["upgrade", "--version", oldVersion]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Upgraded nexus ${NEW_VERSION} → ${oldVersion}`);
    expect(sha256(bin)).toBe(sha256(DIST));
    expect(JSON.parse(nexus(["version", "--json"]).stdout).daemon.version).toBe(oldVersion);
  }, 300_000);

  test("a release folder without VERSION: the binaries' own versions are named, not 'unknown'", () => {
    const from = (folder: string) => ({ NEXUS_DOWNLOAD_URL: `http://127.0.0.1:${server!.port}/${folder}` });
    // The same binary as the running one: its version is this build's.
    expect(nexus(["upgrade", "--check"], from("unversioned-old")).stdout).toBe(`nexus ${oldVersion} is up to date (http://127.0.0.1:${server!.port}/unversioned-old)\n`);
    expect(JSON.parse(nexus(["upgrade", "--check", "--json"], from("unversioned-old")).stdout)).toMatchObject({ current: oldVersion, available: oldVersion, upToDate: true });
    // Another one: which version it is shows once it is downloaded.
    const check = nexus(["upgrade", "--check"], from("unversioned-new"));
    expect(check.stdout).toContain(`nexus ${oldVersion} is installed; another build is available from http://127.0.0.1:${server!.port}/unversioned-new (no VERSION file says which version)`);
    const r = nexus(["upgrade"], from("unversioned-new"));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`: ${oldVersion} → ${NEW_VERSION} (sha256 `);
    expect(r.stdout).toContain(`Upgraded nexus ${oldVersion} → ${NEW_VERSION} (${bin})`);
    expect(JSON.parse(nexus(["version", "--json"]).stdout).version).toBe(NEW_VERSION);
  }, 300_000);
});
