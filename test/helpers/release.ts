// A release page on 127.0.0.1 for install.sh and `nexus upgrade`: folders in the layout install.sh
// downloads (nexus-<os>-<arch>, SHA256SUMS, VERSION), served by a static file server in its own
// process — the tests block in spawnSync, so a server in the test's own process could not answer.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The asset name of this machine's binary in a release. */
export const ASSET = `nexus-linux-${process.arch === "arm64" ? "arm64" : "x64"}`;

export function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

export interface ReleaseServer {
  port: number;
  stop(): void;
}

/** Serves `dir` over HTTP on 127.0.0.1 (a free port) until stopped. */
export async function serveReleases(dir: string): Promise<ReleaseServer> {
  const child = spawn("python3", ["-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, "0"], { stdio: ["ignore", "pipe", "pipe"] });
  const port = await new Promise<number>((res, rej) => {
    let out = "";
    const timer = setTimeout(() => rej(new Error(`http.server did not start: ${out}`)), 60_000);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    });
    child.once("exit", (code) => rej(new Error(`http.server exited (${code}): ${out}`)));
  });
  child.stderr.resume();
  return { port, stop: () => void child.kill("SIGTERM") };
}

/**
 * A release folder: `binary` as this machine's asset, SHA256SUMS listing another platform's asset
 * first and then this one's sum (or, with `wrongSum`, a sum of something else), and VERSION when a
 * version is given.
 */
export function writeRelease(dir: string, binary: string, opts: { version?: string; wrongSum?: boolean } = {}): void {
  mkdirSync(dir, { recursive: true });
  copyFileSync(binary, join(dir, ASSET));
  const sum = opts.wrongSum ? createHash("sha256").update("not the binary").digest("hex") : sha256(binary);
  writeFileSync(join(dir, "SHA256SUMS"), `${"0".repeat(64)}  nexus-darwin-arm64\n${sum}  ${ASSET}\n`);
  if (opts.version !== undefined) writeFileSync(join(dir, "VERSION"), `${opts.version}\n`);
}
