import type { CliContext } from "../context.ts";
import { daemonVersion, type DaemonVersion } from "../local-daemon.ts";
import { writeOut } from "../output.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import { buildInfo } from "../../version.ts";

/**
 * Asks a running daemon, but never starts one just to print a version. `asked` is that question
 * when the caller sent it already (src/cli/quick.ts sends it before this module loads).
 */
export async function versionCommand(ctx: CliContext, asked: Promise<DaemonVersion | undefined> = daemonVersion(ctx.probeClient())): Promise<number> {
  const ours = buildInfo();
  const daemon = await asked.catch(() => undefined);
  if (ctx.json) {
    await writeOut(JSON.stringify({ ...ours, daemon: daemon ?? null }) + "\n");
  } else {
    await writeOut(
      `nexus ${ours.version}\n  commit    ${ours.commit}\n  built     ${ours.buildDate || "-"}\n  platform  ${ours.platform}\n` +
        `  daemon    ${daemon ? `${daemon.version} (${daemon.commit}), pid ${daemon.pid}` : "not running"}\n`,
    );
  }
  return EXIT_CODES.ok;
}
