import { DaemonClient } from "../client.ts";
import type { CliContext } from "../context.ts";
import { daemonVersion, ensureDaemon, stopDaemon } from "../daemon-process.ts";
import { writeOut } from "../output.ts";
import { EXIT_CODES, NexusError } from "../../core/errors.ts";
import { buildInfo } from "../../version.ts";

export async function daemonCommand(ctx: CliContext, action: string): Promise<number> {
  const client = new DaemonClient({ socketPath: ctx.paths.daemonSocket });
  switch (action) {
    case "status": {
      const v = await daemonVersion(client);
      if (ctx.json) await writeOut(JSON.stringify(v ? { running: true, ...v, socket: ctx.paths.daemonSocket } : { running: false, socket: ctx.paths.daemonSocket }) + "\n");
      else await writeOut(v ? `Daemon running: pid ${v.pid}, version ${v.version} (${v.commit}), socket ${ctx.paths.daemonSocket}\n` : `Daemon not running (socket ${ctx.paths.daemonSocket})\n`);
      return v ? EXIT_CODES.ok : EXIT_CODES.daemonUnreachable;
    }
    case "start": {
      await ensureDaemon(ctx.paths, (l) => void ctx.log(l));
      const v = (await daemonVersion(client))!;
      if (ctx.json) await writeOut(JSON.stringify({ running: true, ...v, socket: ctx.paths.daemonSocket }) + "\n");
      else await writeOut(`Daemon running: pid ${v.pid}, version ${v.version}\n`);
      return EXIT_CODES.ok;
    }
    case "stop": {
      const stopped = await stopDaemon(client, ctx.paths);
      if (ctx.json) await writeOut(JSON.stringify({ stopped }) + "\n");
      else await writeOut(stopped ? "Daemon stopped\n" : "Daemon was not running\n");
      return EXIT_CODES.ok;
    }
    default:
      throw new NexusError("INVALID_ARGUMENT", `Unknown daemon action '${action}'`, {
        suggestion: "Use 'nexus daemon' (foreground), 'nexus daemon start', 'nexus daemon stop' or 'nexus daemon status'",
      });
  }
}

export async function versionCommand(ctx: CliContext): Promise<number> {
  const ours = buildInfo();
  // Asks a running daemon, but never starts one just to print a version.
  const daemon = await daemonVersion(new DaemonClient({ socketPath: ctx.paths.daemonSocket })).catch(() => undefined);
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
