// What `nexus version` prints, apart from how the daemon was asked: the full command (version.ts)
// and the short path (src/cli/instant.ts) print the same text.
import type { BuildInfo } from "../../version.ts";
import type { DaemonVersion } from "../local-daemon.ts";

/** This build, and the daemon's answer (undefined: none answered); --json prints the API's shape. */
export function versionText(ours: BuildInfo, daemon: DaemonVersion | undefined, json: boolean): string {
  if (json) return JSON.stringify({ ...ours, daemon: daemon ?? null }) + "\n";
  return (
    `nexus ${ours.version}\n  commit    ${ours.commit}\n  built     ${ours.buildDate || "-"}\n  platform  ${ours.platform}\n` +
    `  daemon    ${daemon ? `${daemon.version} (${daemon.commit}), pid ${daemon.pid}` : "not running"}\n`
  );
}
