// Where `nexus upgrade` finds a release and how it puts it in place: the layout install.sh uses
// (a folder holding nexus-<os>-<arch>, SHA256SUMS and, written by `build.ts --all`, VERSION), the
// download verified against SHA256SUMS, then written beside the running binary, fsynced and renamed
// over it, so the path holds the old or the new program and never a part of one.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, closeSync, createReadStream, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { NexusError } from "../../core/errors.ts";

export const DEFAULT_RELEASES_URL = "https://github.com/nexus-dev/nexus/releases";

/** The release asset of this machine, as install.sh names it. */
export function assetName(platform: string = process.platform, arch: string = process.arch): string {
  const os = platform === "darwin" ? "darwin" : platform === "linux" ? "linux" : undefined;
  const cpu = arch === "x64" ? "x64" : arch === "arm64" ? "arm64" : undefined;
  if (!os || !cpu) throw new NexusError("INVALID_STATE", `No release is built for ${platform}-${arch}`, { suggestion: "Build from source: npm install && npm run build" });
  return `nexus-${os}-${cpu}`;
}

/**
 * The release folder: NEXUS_DOWNLOAD_URL as install.sh takes it (that folder, whatever the version),
 * else <releases>/latest/download or <releases>/download/v<version>, where <releases> is
 * NEXUS_RELEASES_URL or the project's GitHub releases.
 */
export function releaseFolder(env: Record<string, string | undefined>, version?: string): string {
  if (env.NEXUS_DOWNLOAD_URL) return env.NEXUS_DOWNLOAD_URL.replace(/\/+$/, "");
  const base = (env.NEXUS_RELEASES_URL || DEFAULT_RELEASES_URL).replace(/\/+$/, "");
  return version ? `${base}/download/v${version.replace(/^v/, "")}` : `${base}/latest/download`;
}

/** The checksum SHA256SUMS gives `asset` (`<hex>  <name>` or `<hex> *<name>` lines). */
export function checksumFor(sums: string, asset: string): string | undefined {
  for (const line of sums.split("\n")) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(\S+)\s*$/.exec(line.trim());
    if (m && m[2] === asset) return m[1]!.toLowerCase();
  }
  return undefined;
}

async function get(url: string, timeoutMs: number): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
  } catch (err) {
    throw new NexusError("BACKEND_UNAVAILABLE", `Cannot download ${url}: ${(err as Error).message}`, { suggestion: "Check the network (or NEXUS_DOWNLOAD_URL / NEXUS_RELEASES_URL)", details: { url } });
  }
  return res;
}

export interface ReleaseInfo {
  folder: string;
  asset: string;
  sha256: string;
  /** From the folder's VERSION file; undefined when it has none. */
  version: string | undefined;
}

/** Reads SHA256SUMS (and VERSION when there is one) of a release folder. */
export async function readRelease(folder: string, asset: string): Promise<ReleaseInfo> {
  const sumsRes = await get(`${folder}/SHA256SUMS`, 30_000);
  if (!sumsRes.ok) {
    await sumsRes.body?.cancel();
    throw new NexusError("NOT_FOUND", `No release at ${folder} (SHA256SUMS: HTTP ${sumsRes.status})`, { suggestion: "Check the version (nexus upgrade --version X.Y.Z) or NEXUS_DOWNLOAD_URL", details: { url: `${folder}/SHA256SUMS`, status: sumsRes.status } });
  }
  const sha256 = checksumFor(await sumsRes.text(), asset);
  if (!sha256) throw new NexusError("NOT_FOUND", `SHA256SUMS at ${folder} lists no ${asset}`, { suggestion: "This release has no build for this machine", details: { asset } });
  const vRes = await get(`${folder}/VERSION`, 30_000);
  const version = vRes.ok ? (await vRes.text()).trim().split("\n")[0]?.trim() || undefined : (await vRes.body?.cancel(), undefined);
  return { folder, asset, sha256, version };
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path).on("data", (b) => h.update(b)).on("error", reject).on("end", () => resolve(h.digest("hex")));
  });
}

/**
 * Downloads the asset into a file beside `target` and checks its SHA-256; answers the staged path.
 * A mismatch (or any failure) removes the staged file and throws: nothing is replaced.
 */
export async function downloadVerified(release: ReleaseInfo, target: string): Promise<string> {
  const url = `${release.folder}/${release.asset}`;
  const staged = join(dirname(target), `.${basename(target)}.upgrade-${process.pid}.tmp`);
  const res = await get(url, 10 * 60_000);
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new NexusError("NOT_FOUND", `Cannot download ${url}: HTTP ${res.status}`, { suggestion: "Try again later, or check NEXUS_DOWNLOAD_URL", details: { url, status: res.status } });
  }
  let fd: number;
  try {
    fd = openSync(staged, "w", 0o755);
  } catch (err) {
    await res.body.cancel();
    throw new NexusError("PERMISSION_DENIED", `Cannot write beside ${target}: ${(err as Error).message}`, { suggestion: `Run nexus upgrade as the user who owns ${dirname(target)} (or with sudo for a system-wide install)`, details: { path: dirname(target) } });
  }
  const hash = createHash("sha256");
  try {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      let off = 0;
      while (off < value.length) off += writeSync(fd, value, off, value.length - off);
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(staged, { force: true });
    throw new NexusError("CONNECTION_LOST", `The download of ${url} broke off: ${(err as Error).message}; nothing was replaced`, { suggestion: "Run nexus upgrade again", details: { url } });
  }
  closeSync(fd);
  const actual = hash.digest("hex");
  if (actual !== release.sha256) {
    rmSync(staged, { force: true });
    throw new NexusError("INVALID_STATE", `Checksum mismatch for ${release.asset}: SHA256SUMS says ${release.sha256}, the download is ${actual}; nothing was replaced`, {
      suggestion: "The release or the download is corrupt: try again later, and report it if it persists",
      details: { asset: release.asset, expected: release.sha256, actual },
    });
  }
  chmodSync(staged, 0o755);
  return staged;
}

/** What a nexus binary says it is (`--version` prints `nexus/<version> <platform> <runtime>`); undefined when it does not say. */
export function binaryVersion(path: string): string | undefined {
  const r = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "ignore"] });
  return /^nexus\/(\S+)/.exec(r.stdout ?? "")?.[1];
}

/** Renames the staged file over the target (atomic on one filesystem) and syncs the folder. */
export function replaceBinary(staged: string, target: string): void {
  try {
    renameSync(staged, target);
  } catch (err) {
    rmSync(staged, { force: true });
    throw new NexusError("PERMISSION_DENIED", `Cannot replace ${target}: ${(err as Error).message}; nothing was replaced`, { suggestion: `Run nexus upgrade as the owner of ${target}`, details: { path: target } });
  }
  try {
    const dir = openSync(dirname(target), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some systems cannot fsync a folder; the rename itself is still atomic.
  }
}
