// The tcp:// engine's tunnel: the Docker API over TLS (the engine's certificate checked against the
// configured CA, ours presented), and a container's ports reached through that same API: each
// connection to a daemon's 127.0.0.1 listener is an exec relay to 127.0.0.1:<port> inside the
// container (exec-relay.ts). Nothing is published on the engine host, nothing goes by container IP.
import { NexusError } from "../../kernel/errors.ts";
import type { DockerEngine } from "../engine.ts";
import { openExecRelay } from "./exec-relay.ts";
import { LoopbackListeners } from "./listeners.ts";
import type { EngineTunnel } from "./tunnel.ts";

/** Error codes of a TLS handshake that failed on a certificate (ours or the engine's). */
const CERTIFICATE = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|SSL|TLS|HOSTNAME|ALTNAME/i;

export class ExecTunnel implements EngineTunnel {
  readonly publishes = false;
  readonly address: string;
  readonly #name: string;
  readonly #inner: () => DockerEngine;
  readonly #listeners = new LoopbackListeners();

  constructor(name: string, address: string, inner: () => DockerEngine) {
    this.#name = name;
    this.address = address;
    this.#inner = inner;
  }

  // The API has no connection of its own to bring up: every call is a TLS request that fails on its own.
  async up(): Promise<void> {}

  async standby(): Promise<void> {}

  unavailable(why: string, suggestion: string, details: Record<string, unknown> = {}): NexusError {
    return new NexusError("BACKEND_UNAVAILABLE", `Engine '${this.#name}' (${this.address}) cannot be reached: ${why}`, {
      suggestion,
      details: { engine: this.#name, dockerHost: this.address, ...details },
    });
  }

  /** Why a request to the engine failed, with what to do about it. */
  failure(err: unknown, tls: { ca: string; cert: string }): NexusError {
    if (err instanceof NexusError) return err;
    const e = err as { code?: string; message?: string };
    const what = `${e.code ? `${e.code}: ` : ""}${e.message ?? String(err)}`;
    if (CERTIFICATE.test(e.code ?? "") || CERTIFICATE.test(e.message ?? "")) {
      return this.unavailable(`the TLS handshake failed (${what})`, `Check that engines.${this.#name}.tls.ca (${tls.ca}) is the CA that signed the engine's certificate and that this certificate names the host in engines.${this.#name}.host ('openssl s_client -connect <host:port> -CAfile ${tls.ca}' shows it), and that the engine accepts engines.${this.#name}.tls.cert (${tls.cert}); never turn the check off`, { tls: true });
    }
    return this.unavailable(what, `Check that the engine at ${this.address} runs and listens there with --tlsverify, or remove engines.${this.#name} from the config`);
  }

  listen(localPort: number, id: string, containerPort: number): Promise<void> {
    return this.#listeners.listen(localPort, () => openExecRelay(this.#inner(), id, containerPort));
  }

  unlisten(localPort: number): void {
    this.#listeners.unlisten(localPort);
  }

  listening(localPort: number): boolean {
    return this.#listeners.listening(localPort);
  }

  // Ports are reached from inside the container: nothing about them changes when it restarts.
  forget(_id: string): void {}

  close(): void {
    this.#listeners.close();
  }
}
