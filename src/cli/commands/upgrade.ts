import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import { currentRuntime } from "../../runtime/index.ts";
import { runCommand } from "../../service/install.ts";
import { buildInfo } from "../../version.ts";
import type { CliContext } from "../context.ts";
import { DaemonClient } from "../client.ts";
import { daemonVersion } from "../daemon-process.ts";
import { writeOut } from "../output.ts";
import { pollUntil } from "../../kernel/poll.ts";
import { assetName, binaryVersion, downloadVerified, readRelease, releaseFolder, replaceBinary, sha256File } from "../upgrade/release.ts";
import { daemonManager, restartDaemon } from "../upgrade/restart.ts";

export interface UpgradeFlags {
  check?: boolean;
  version?: string;
}

/**
 * `nexus upgrade [--check] [--version V]`: replaces this binary with a release's (latest or V),
 * verified against its SHA256SUMS, and restarts a running daemon on it.
 */
export async function upgradeCommand(ctx: CliContext, flags: UpgradeFlags, env: Record<string, string | undefined>): Promise<number> {
  const ours = buildInfo();
  const wanted = flags.version === undefined ? undefined : String(flags.version).trim();
  if (wanted !== undefined && !/^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(wanted)) {
    throw new NexusError("INVALID_ARGUMENT", `'${wanted}' is not a version`, { suggestion: "e.g. nexus upgrade --version 0.2.0" });
  }
  const binary = (await currentRuntime()).compiledBinary();
  const release = await readRelease(releaseFolder(env, wanted), assetName());
  const current = binary && existsSync(binary) ? await sha256File(binary) : undefined;
  const upToDate = current === release.sha256;
  // A folder without VERSION: the same bytes as this binary are this build's version; another build's shows once downloaded.
  const available = release.version ?? wanted ?? (upToDate ? ours.version : "unknown");
  const report = { current: ours.version, available, upToDate, binary: binary ?? null, release: release.folder, sha256: release.sha256 };

  if (flags.check) {
    if (ctx.json) await writeOut(JSON.stringify(report) + "\n");
    else if (upToDate) await writeOut(`nexus ${ours.version} is up to date (${release.folder})\n`);
    else {
      const offer = available === "unknown" ? `another build is available from ${release.folder} (no VERSION file says which version)` : `${available} is available from ${release.folder}`;
      await writeOut(`nexus ${ours.version} is installed; ${offer}\nRun 'nexus upgrade${wanted ? ` --version ${wanted}` : ""}' to install it\n`);
    }
    return EXIT_CODES.ok;
  }
  if (!binary) {
    throw new NexusError("INVALID_STATE", "nexus upgrade replaces the compiled nexus binary; this one runs from source", {
      suggestion: "Update the checkout (git pull) instead, or install a release: curl -fsSL .../install.sh | sh",
    });
  }
  if (upToDate) {
    if (ctx.json) await writeOut(JSON.stringify({ ...report, upgraded: false }) + "\n");
    else await writeOut(`nexus ${ours.version} is up to date (${binary}); nothing to do\n`);
    return EXIT_CODES.ok;
  }

  // The daemon before the swap: its pid tells who manages it.
  const local = new DaemonClient({ socketPath: ctx.paths.daemonSocket });
  const before = await daemonVersion(local).catch(() => undefined);
  ctx.log(`Downloading ${release.asset}${available === "unknown" ? "" : ` ${available}`} from ${release.folder}`);
  const staged = await downloadVerified(release, binary);
  const installing = available === "unknown" ? (binaryVersion(staged) ?? available) : available;
  replaceBinary(staged, binary);
  ctx.log(`Replaced ${binary}: ${ours.version} → ${installing} (sha256 ${release.sha256})`);

  let daemon: { before: string; after: string | null; restartedBy: string; error?: string } | null = null;
  if (before) {
    const manager = daemonManager(before.pid, { platform: process.platform, uid: userInfo().uid, run: runCommand });
    const error = restartDaemon(manager, binary, { NEXUS_HOME: ctx.paths.home }, runCommand);
    const after = await waitForDaemon(local, before.pid);
    daemon = { before: before.version, after: after?.version ?? null, restartedBy: manager.kind === "systemd" ? `systemd (${manager.scope.slice(2)})` : manager.kind, ...(error ? { error } : {}) };
  }
  if (ctx.json) await writeOut(JSON.stringify({ ...report, available: installing, upgraded: true, daemon }) + "\n");
  else {
    let text = `Upgraded nexus ${ours.version} → ${installing} (${binary})\n`;
    if (daemon?.error) text += `The daemon (${daemon.before}) was not restarted: ${daemon.error}\nRestart it with 'nexus daemon stop' (the next command starts the new one)\n`;
    else if (daemon) text += `Restarted the daemon (${daemon.restartedBy}): ${daemon.before} → ${daemon.after ?? "not answering yet"}\n`;
    else text += "No daemon was running; the next command starts the new one\n";
    await writeOut(text);
  }
  return daemon?.error ? EXIT_CODES.error : EXIT_CODES.ok;
}

/** The daemon's version once a process other than `oldPid` answers (a service manager restarts it in its own time). */
async function waitForDaemon(local: DaemonClient, oldPid: number): Promise<{ version: string; pid: number } | undefined> {
  return pollUntil(
    async () => {
      const v = await daemonVersion(local).catch(() => undefined);
      return v && v.pid !== oldPid ? v : undefined;
    },
    { deadline: Date.now() + 30_000, intervalMs: 100 },
  );
}
