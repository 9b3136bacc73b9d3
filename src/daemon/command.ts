import { resolve } from "node:path";
import { exitCodeFor, NexusError, toNexusError } from "../core/errors.ts";
import { runDaemon } from "./daemon.ts";

/** `nexus daemon [-p port] [-w dir]`: the daemon in the foreground until SIGTERM/SIGINT. */
export async function runDaemonCommand(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const daemonEnv = { ...env };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-w" || a === "--workspace-dir") daemonEnv.NEXUS_HOME = resolve(args[++i] ?? "");
    else if (a.startsWith("--workspace-dir=")) daemonEnv.NEXUS_HOME = resolve(a.slice("--workspace-dir=".length));
    else if (a === "-p" || a === "--port" || a.startsWith("--port=")) {
      return fail(new NexusError("UNIMPLEMENTED", "The TCP listener (--port) is not available in this version yet", {
        suggestion: "Use the unix socket (~/.nexus/daemon.sock), which the CLI uses by default",
      }));
    } else return fail(new NexusError("INVALID_ARGUMENT", `Unknown daemon option '${a}'`, { suggestion: "Run 'nexus daemon --help'" }));
  }
  try {
    const daemon = await runDaemon(daemonEnv);
    await daemon.done;
    return 0;
  } catch (err) {
    return fail(toNexusError(err));
  }
}

function fail(err: NexusError): number {
  process.stderr.write(`nexus daemon: ${err.message}${err.suggestion ? `\n  → ${err.suggestion}` : ""}\n`);
  return exitCodeFor(err);
}
