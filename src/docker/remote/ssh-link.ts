// One pooled SSH connection to a remote engine's host, and what travels on it: the engine's Docker
// socket (a streamlocal forward) behind a unix socket of the daemon's, and streams to the workspaces'
// published ports (remote 127.0.0.1; ssh-tunnel.ts holds the daemon's listeners for them). Nothing of the remote is opened
// to the network; the host key is checked against known_hosts, never accepted because it is new.
//
// The connection runs `true` over a session before it is used: it carries forwards only, and OpenSSH's
// sshd turns Nagle off on a connection (TCP_NODELAY) only when a session starts a command
// (ssh/connect.ts says where), so each small answer of the engine otherwise waited for our delayed ACK.
import { chmodSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { Duplex } from "node:stream";
import ssh2 from "ssh2";
import { NexusError } from "../../kernel/errors.ts";
import { startInteractive, type ConnectLog } from "../../ssh/connect.ts";
import { pipeSocket } from "./listeners.ts";
import { checkHostKeyFile, knownHostsName, type HostKeyVerdict } from "./known-hosts.ts";

export interface SshLinkOptions {
  /** The engine's name in the config (for messages). */
  name: string;
  host: string;
  port: number;
  username: string;
  /** A private key file; else the agent at `agentSocket`. */
  identityFile?: string;
  agentSocket?: string;
  knownHostsFile: string;
  /** The engine's socket on that host. */
  socket: string;
  /** Where the daemon serves the forwarded Docker socket. */
  relayPath: string;
  /** Where the connection's non-fatal problems are told (the daemon's log). */
  log?: ConnectLog;
}

const READY_TIMEOUT_MS = 15_000;

export class SshLink {
  readonly #o: SshLinkOptions;
  #client: Promise<ssh2.Client> | undefined;
  #relay: Server | undefined;
  readonly #open = new Set<Socket>();

  constructor(o: SshLinkOptions) {
    this.#o = o;
  }

  get address(): string {
    return `ssh://${this.#o.username}@${this.#o.host}:${this.#o.port}`;
  }

  /** The pooled connection (made on first use, and again after it dropped). */
  connect(): Promise<ssh2.Client> {
    this.#client ??= this.#dial().catch((err: unknown) => {
      this.#client = undefined;
      throw err;
    });
    return this.#client;
  }

  #dial(): Promise<ssh2.Client> {
    const o = this.#o;
    let verdict: HostKeyVerdict | undefined;
    let auth: { privateKey: Buffer } | { agent: string };
    if (o.identityFile) {
      try {
        auth = { privateKey: readFileSync(o.identityFile) };
      } catch (err) {
        return Promise.reject(this.unavailable(`its identity_file ${o.identityFile} cannot be read (${(err as Error).message})`, `Fix engines.${o.name}.identity_file in the config`));
      }
    } else if (o.agentSocket) {
      auth = { agent: o.agentSocket };
    } else {
      return Promise.reject(this.unavailable("no identity_file is configured and no ssh-agent is running (SSH_AUTH_SOCK)", `Set engines.${o.name}.identity_file in the config, or start the daemon with an ssh-agent`));
    }
    return new Promise((resolve, reject) => {
      const client = new ssh2.Client();
      let ready = false;
      // Our side: Bun's sockets are TCP_NODELAY already, Deno's node:net ones are not.
      client.once("connect", () => client.setNoDelay(true));
      client.on("ready", () => {
        ready = true;
        // Used once sshd has answered the no-op (its socket is TCP_NODELAY by then), or once it failed (logged).
        void startInteractive(client, o.log && { warn: (m) => o.log!.warn(`Engine '${o.name}' (${this.address}): ${m}`) }).then(() => resolve(client));
      });
      client.on("error", (err: Error) => {
        if (!ready) reject(this.#dialError(err, verdict));
      });
      client.on("close", () => {
        // The next use dials again; listeners stay and reconnect on their next connection.
        if (this.#client) this.#client = undefined;
        if (!ready) reject(this.#dialError(new Error("the connection closed during the handshake"), verdict));
      });
      client.connect({
        host: o.host,
        port: o.port,
        username: o.username,
        ...auth,
        readyTimeout: READY_TIMEOUT_MS,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          verdict = checkHostKeyFile(o.knownHostsFile, o.host, o.port, key);
          return verdict.ok;
        },
      });
    });
  }

  #dialError(err: Error, verdict: HostKeyVerdict | undefined): NexusError {
    const o = this.#o;
    if (verdict && !verdict.ok) {
      const name = knownHostsName(o.host, o.port);
      const suggestion =
        verdict.reason === "unknown"
          ? `Check the host's key fingerprint with its owner, then add it: ssh-keyscan -p ${o.port} ${o.host} >> ${o.knownHostsFile} (or set engines.${o.name}.known_hosts_file)`
          : verdict.reason === "mismatch"
            ? `If the host was reinstalled, remove its old line (ssh-keygen -R '${name}' -f ${o.knownHostsFile}) and add the new key after checking it; otherwise do not connect`
            : `Fix engines.${o.name}.known_hosts_file in the config`;
      return this.unavailable(`its host key was refused: ${verdict.detail} in ${o.knownHostsFile}`, suggestion, { hostKey: verdict.reason });
    }
    return this.unavailable(err.message, `Check that ${o.host}:${o.port} answers SSH and that ${o.username}'s key is accepted there ('ssh -p ${o.port} ${o.username}@${o.host}'), or remove engines.${o.name} from the config`);
  }

  unavailable(why: string, suggestion: string, details: Record<string, unknown> = {}): NexusError {
    return new NexusError("BACKEND_UNAVAILABLE", `Engine '${this.#o.name}' (${this.address}) cannot be reached: ${why}`, {
      suggestion,
      details: { engine: this.#o.name, dockerHost: this.address, ...details },
    });
  }

  /** A stream to a unix socket on the engine's host. */
  async openSocket(path: string): Promise<Duplex> {
    const client = await this.connect();
    return new Promise((resolve, reject) => {
      client.openssh_forwardOutStreamLocal(path, (err, stream) => (err ? reject(this.unavailable(`${path} on the host: ${err.message}`, `Check engines.${this.#o.name}.socket and that ${this.#o.username} may use it there`)) : resolve(stream)));
    });
  }

  /** A stream to 127.0.0.1:`port` on the engine's host. */
  async openTcp(port: number): Promise<Duplex> {
    const client = await this.connect();
    return new Promise((resolve, reject) => {
      client.forwardOut("127.0.0.1", 0, "127.0.0.1", port, (err, stream) => (err ? reject(new Error(`127.0.0.1:${port} on ${this.#o.host}: ${err.message}`)) : resolve(stream)));
    });
  }

  /** Runs a command on the engine's host (over the pooled connection): its stdout, or a failure with its stderr. */
  async run(command: string): Promise<string> {
    const client = await this.connect();
    return new Promise((resolve, reject) => {
      client.exec(command, (err, ch) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        ch.on("data", (b: Buffer) => out.push(b));
        ch.stderr.on("data", (b: Buffer) => errOut.push(b));
        ch.on("close", (code: number | null) => (code === 0 ? resolve(Buffer.concat(out).toString("utf8")) : reject(new Error(`exit ${code}: ${Buffer.concat(errOut).toString("utf8").trim()}`))));
      });
    });
  }

  /** Serves the engine's Docker socket at relayPath (owner only); answers the path. */
  async relay(): Promise<string> {
    if (this.#relay) return this.#o.relayPath;
    const path = this.#o.relayPath;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    rmSync(path, { force: true });
    const server = createServer((local) => pipeSocket(local, () => this.openSocket(this.#o.socket), this.#open));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
    chmodSync(path, 0o600);
    this.#relay = server;
    return path;
  }

  /** Closes the relay and the connection. */
  close(): void {
    this.#relay?.close();
    this.#relay = undefined;
    rmSync(this.#o.relayPath, { force: true });
    for (const s of this.#open) s.destroy();
    void this.#client?.then((c) => c.end()).catch(() => {});
    this.#client = undefined;
  }
}
