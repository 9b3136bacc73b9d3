import type { CliContext } from "../context.ts";
import { daemonVersion, type DaemonVersion } from "../local-daemon.ts";
import { writeOut } from "../output.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import { buildInfo } from "../../version.ts";
import { versionText } from "./version-text.ts";

/**
 * Asks a running daemon, but never starts one just to print a version. `asked` is that question
 * when the caller sent it already (src/cli/quick.ts sends it before this module loads).
 */
export async function versionCommand(ctx: CliContext, asked: Promise<DaemonVersion | undefined> = daemonVersion(ctx.probeClient())): Promise<number> {
  const daemon = await asked.catch(() => undefined);
  await writeOut(versionText(buildInfo(), daemon, ctx.json));
  return EXIT_CODES.ok;
}
