import { resolve } from "node:path";
import { NexusError, toNexusError } from "../core/errors.ts";
import { exitCodeFor } from "../cli/exit-codes.ts";
import { runDaemon } from "./daemon.ts";

/** `nexus daemon [-p port] [-w dir] [--daemon-token t]`: the daemon in the foreground until SIGTERM/SIGINT. */
export async function runDaemonCommand(args: string[], env: Record<string, string | undefined>): Promise<number> {
  const daemonEnv = { ...env };
  let port: number | undefined;
  let token: string | undefined;
  // The foreground daemon prints nothing on success; with --json its errors are the usual envelope.
  const json = args.includes("--json");
  const fail = (err: NexusError) => report(err, json);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--json") continue;
    if (a === "-w" || a === "--workspace-dir") daemonEnv.NEXUS_HOME = resolve(args[++i] ?? "");
    else if (a.startsWith("--workspace-dir=")) daemonEnv.NEXUS_HOME = resolve(a.slice("--workspace-dir=".length));
    else if (a === "-p" || a === "--port" || a.startsWith("--port=")) {
      const text = a.startsWith("--port=") ? a.slice("--port=".length) : args[++i];
      const n = Number(text);
      if (!Number.isInteger(n) || n < 1 || n > 65534) {
        return fail(new NexusError("INVALID_ARGUMENT", `--port must be 1-65534, got '${text ?? ""}'`, { suggestion: "e.g. nexus daemon --port 8080 (gRPC then listens on 8081)" }));
      }
      port = n;
    } else if (a === "--daemon-token" || a.startsWith("--daemon-token=")) {
      token = a.startsWith("--daemon-token=") ? a.slice("--daemon-token=".length) : args[++i];
      // It signs the JWTs too (HS256): as long as the one the daemon makes itself.
      if (!token || token.length < 32) {
        return fail(new NexusError("INVALID_ARGUMENT", "--daemon-token must be at least 32 characters", { suggestion: "e.g. nexus daemon --port 8080 --daemon-token \"$(openssl rand -base64 32)\"" }));
      }
    } else return fail(new NexusError("INVALID_ARGUMENT", `Unknown daemon option '${a}'`, { suggestion: "Run 'nexus daemon --help'" }));
  }
  try {
    const daemon = await runDaemon(daemonEnv, { ...(port !== undefined ? { port } : {}), ...(token !== undefined ? { token } : {}) });
    await daemon.done;
    return 0;
  } catch (err) {
    return fail(toNexusError(err));
  }
}

function report(err: NexusError, json: boolean): number {
  if (json) process.stdout.write(JSON.stringify({ error: err.toJSON() }) + "\n");
  else process.stderr.write(`nexus daemon: ${err.message}${err.suggestion ? `\n  → ${err.suggestion}` : ""}\n`);
  return exitCodeFor(err);
}
