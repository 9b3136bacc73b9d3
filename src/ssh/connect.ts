// One SSH connection from the daemon to a workspace's sshd, ready for a pool to hand out: the
// handshake with the pinned host key, and no Nagle delay on either end of its TCP socket.
//
// Why a connection starts with a command that does nothing: OpenSSH's sshd (9.2 in the image) sets
// TCP_NODELAY on a connection's socket in one place, ssh_packet_set_interactive() (packet.c, once per
// connection), which session.c calls when it starts a command or shell (do_exec_no_pty, do_exec_pty),
// and only then. A pooled connection that carries channels to the exec agent (direct-streamlocal) or
// port forwards and never a session keeps Nagle on: sshd's small writes (an agent's answer frames)
// wait for the daemon's delayed ACK, about 40 ms (one `true` at a time on such a connection took
// 47 ms, 4.4 ms once it had run a session; bench/exec-load.ts, latency mode). So each plain
// connection runs `true` first and is handed out once sshd has answered that request: by then the
// socket is TCP_NODELAY, two round trips and a fork after the handshake.
import ssh2 from "ssh2";
import { publicKeyBlob } from "./keys.ts";
import { Socket } from "node:net";
import { coalesceWrites } from "./coalescing-socket.ts";
import type { Client } from "./connection-group.ts";
import type { SshTarget } from "./pool.ts";

/** Where a connection's non-fatal problems are told (the daemon's log). */
export interface ConnectLog {
  warn(message: string): void;
}

export interface ConnectOptions {
  privateKey: string;
  /** The user's ssh-agent socket: every channel of this connection requests agent forwarding. */
  agentSocket?: string;
  log?: ConnectLog;
}

/** A logged-in connection to `target`; rejects when the handshake fails (the host key included). */
export async function openConnection(target: SshTarget, opts: ConnectOptions): Promise<Client> {
  const client = await handshake(target, opts);
  // A connection forwarding an agent carries SSH sessions only (the exec agent is never used with one): sshd makes it interactive itself.
  if (!opts.agentSocket) await startInteractive(client, opts.log);
  return client;
}

function handshake(target: SshTarget, opts: ConnectOptions): Promise<Client> {
  const expected = publicKeyBlob(target.hostPublicKey);
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let settled = false;
    // Our side: Bun's sockets are TCP_NODELAY already, Deno's node:net ones are not.
    client.once("connect", () => client.setNoDelay(true));
    client.once("ready", () => {
      settled = true;
      resolve(client);
    });
    client.on("error", (err: Error) => {
      if (!settled) {
        settled = true;
        client.end();
        reject(err);
      }
    });
    // Our own socket, so that each SSH packet leaves in one send() (coalescing-socket.ts).
    const sock = new Socket();
    coalesceWrites(sock);
    sock.setMaxListeners(0); // as ssh2 does with a socket of its own: each channel may listen to it
    sock.connect({ host: target.host, port: target.port });
    client.connect({
      sock,
      host: target.host,
      port: target.port,
      username: target.username,
      privateKey: opts.privateKey,
      hostVerifier: (key: Buffer) => Buffer.compare(key, expected) === 0,
      readyTimeout: 10_000,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      ...(opts.agentSocket ? { agent: opts.agentSocket, agentForward: true } : {}),
    });
  });
}

/**
 * Runs `true` on a session of `client` and settles once sshd has answered the request (sshd switches
 * the connection to TCP_NODELAY before it answers). Never rejects: a refusal (the workspace at its
 * process limit) or a connection gone meanwhile only costs speed, so it is logged and the connection used.
 */
export function startInteractive(client: Client, log?: ConnectLog): Promise<void> {
  return new Promise<void>((resolve) => {
    const failed = (err: Error) => {
      log?.warn(`SSH: the no-op session that turns Nagle off on sshd's side of a new connection failed (${err.message}); its channels may answer up to ~40 ms late`);
      resolve();
    };
    try {
      client.exec("true", (err, channel) => {
        if (err) return failed(err);
        resolve();
        // Nothing to read or write: the command ends, sshd closes the channel.
        channel.resume();
        channel.stderr.resume();
        channel.end();
      });
    } catch (err) {
      failed(err as Error); // "Not connected": gone right after the handshake
    }
  });
}
