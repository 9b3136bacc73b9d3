// `nexus ssh-proxy <workspace> <port>`: the ProxyCommand of ~/.nexus/ssh_config. It resumes a
// workspace that idleness paused (plain `ssh`, scp, rsync and editors would otherwise hang on a
// frozen sshd), then joins stdin/stdout to the workspace's SSH port on 127.0.0.1.
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import type { Readable, Writable } from "node:stream";
import type { WorkspaceView } from "../core/types.ts";
import { nexusPaths } from "../store/paths.ts";
import { CliContext } from "./context.ts";

const HOST = "127.0.0.1";

export async function runSshProxy(args: readonly string[], env: Record<string, string | undefined>): Promise<number> {
  const [name, portText] = args;
  const port = Number(portText);
  if (!name || !Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write("usage: nexus ssh-proxy <workspace> <ssh port> (the ProxyCommand of ~/.nexus/ssh_config)\n");
    return 2;
  }
  const ctx = new CliContext(nexusPaths(env), {}, env);
  try {
    const client = await ctx.client();
    const path = `/api/v1/workspaces/${encodeURIComponent(name)}`;
    const ws = await client.json<WorkspaceView>("GET", path, undefined, { timeoutMs: 10_000 });
    if (ws.status === "paused") await client.json("POST", `${path}/resume`, { blocking: false }, { timeoutMs: 30_000 });
    else if (ws.status !== "running") {
      process.stderr.write(`nexus: workspace '${name}' is ${ws.status}; start it with 'nexus start ${name}'\n`);
      quietParentSsh();
      return 255;
    }
  } catch (err) {
    // No daemon to ask (or it failed): connect anyway; a running workspace answers without it.
    process.stderr.write(`nexus: could not check workspace '${name}' (${(err as Error).message}); connecting anyway\n`);
  }
  return joinSshPort(port);
}

/**
 * A ProxyCommand that ends without a byte makes ssh add "kex_exchange_identification: Connection
 * closed by remote host" and "Connection closed by UNKNOWN port 65535" after our hint. ssh dies
 * quietly on SIGINT (and the shell prints nothing for it), exiting non-zero: the hint stays alone.
 * Only when the parent really is ssh.
 */
function quietParentSsh(): void {
  let parent = "";
  try {
    parent = readFileSync(`/proc/${process.ppid}/comm`, "utf8").trim();
  } catch {
    return; // no /proc (macOS): ssh's own lines follow the hint
  }
  if (parent === "ssh") {
    try {
      process.kill(process.ppid, "SIGINT");
    } catch {
      // gone already
    }
  }
}

/** Joins `input` and `output` (the ProxyCommand's stdin and stdout) to 127.0.0.1:`port`; resolves with the exit code. */
export function joinSshPort(port: number, input: Readable = process.stdin, output: Writable = process.stdout): Promise<number> {
  return new Promise((resolve) => {
    const sock = connect({ host: HOST, port });
    sock.once("connect", () => {
      // Deno's node:net sockets are not TCP_NODELAY (Bun's are): a packet of ssh's written while the
      // one before was not acknowledged yet would wait for that ACK (up to sshd's delayed ACK, ~40 ms).
      sock.setNoDelay(true);
      input.pipe(sock);
      sock.pipe(output);
    });
    sock.once("error", (err) => {
      process.stderr.write(`nexus: cannot reach the workspace's SSH port ${HOST}:${port}: ${err.message}\n`);
      resolve(255);
    });
    sock.once("close", () => resolve(0));
    input.once("end", () => sock.end());
  });
}
