// The engines a daemon knows: `local` (docker.host, DOCKER_HOST or the default socket) and those the
// config's `engines:` names. A unix:// engine is on this machine; ssh:// and tcp:// ones are another
// machine's even when they happen to run on this one (nothing of this host is mounted into them).
// Remote ssh:// engines are dialled on first use, once, and their connection is pooled; tcp:// ones
// speak TLS (their certificate checked against the configured CA) and reach ports through the API.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOCAL_ENGINE, isRemoteHost, type EngineDefinition } from "../config/engines.ts";
import { NexusError } from "../kernel/errors.ts";
import type { ContainerEngine, EngineDirectory, EngineInfo } from "./container-engine.ts";
import { DockerEngine } from "./engine.ts";
import { RemoteEngine } from "./remote/remote-engine.ts";
import { SshLink } from "./remote/ssh-link.ts";
import { SshTunnel } from "./remote/ssh-tunnel.ts";
import { ExecTunnel } from "./remote/exec-tunnel.ts";
import type { ConnectLog } from "../ssh/connect.ts";

export interface EngineRegistryOptions {
  engines: Record<string, EngineDefinition>;
  /** The local engine (docker.host). */
  local: DockerEngine;
  /** NEXUS_HOME: relay sockets live under it. */
  home: string;
  /** The user's home, for `~` in file paths. */
  userHome: string;
  env: Record<string, string | undefined>;
  /** The daemon's log (an ssh:// engine's non-fatal connection problems). */
  log?: ConnectLog;
}

function expand(path: string, home: string): string {
  return path === "~" ? home : path.startsWith("~/") ? join(home, path.slice(2)) : path;
}

/** A unix socket path that fits sun_path (108 bytes), under NEXUS_HOME when it can. */
export function relaySocketPath(home: string, name: string): string {
  const preferred = join(home, "engines", `${name}.sock`);
  if (Buffer.byteLength(preferred) <= 100) return preferred;
  const h = createHash("sha256").update(preferred).digest("hex").slice(0, 16);
  return join(tmpdir(), `nexus-${process.getuid?.() ?? 0}-${h}.sock`);
}

export class EngineRegistry implements EngineDirectory {
  readonly #o: EngineRegistryOptions;
  readonly #made = new Map<string, ContainerEngine>();

  constructor(o: EngineRegistryOptions) {
    this.#o = o;
    this.#made.set(LOCAL_ENGINE, o.local);
  }

  names(): string[] {
    return [LOCAL_ENGINE, ...Object.keys(this.#o.engines)];
  }

  has(name: string): boolean {
    return name === LOCAL_ENGINE || name in this.#o.engines;
  }

  #definition(name: string): EngineDefinition {
    const def = this.#o.engines[name];
    if (!def) {
      throw new NexusError("INVALID_ARGUMENT", `'${name}' is not a configured engine (known: ${this.names().join(", ")})`, {
        suggestion: "Add it under engines: in ~/.nexus/config.yaml, or pick one from 'nexus engines'",
        details: { engine: name },
      });
    }
    return def;
  }

  info(name: string): EngineInfo {
    if (name === LOCAL_ENGINE) return { name, host: this.#o.local.address, remote: false, workspaces: true };
    const def = this.#definition(name);
    const info = { name, host: def.host, remote: isRemoteHost(def.host) };
    if (def.host.startsWith("tcp://") && !def.tls) {
      // Plain tcp:// is the engine's root API unauthenticated and in clear on the network, and a
      // workspace's SSH (agent forwarding, secrets, sync) would travel through it: no workspaces there.
      return {
        ...info,
        workspaces: false,
        refusal: {
          message: "a tcp:// engine without TLS answers anybody on its network and carries everything in clear",
          suggestion: `Give engines.${name} its TLS files (tls: {ca, cert, key}; dockerd --tlsverify), or reach that machine over SSH (host: ssh://user@host)`,
        },
      };
    }
    return { ...info, workspaces: true };
  }

  isRemote(name: string | undefined): boolean {
    return name !== undefined && name !== LOCAL_ENGINE && this.info(name).remote;
  }

  get(name: string | undefined): ContainerEngine {
    const key = name ?? LOCAL_ENGINE;
    const made = this.#made.get(key);
    if (made) return made;
    const engine = this.#make(key, this.#definition(key));
    this.#made.set(key, engine);
    return engine;
  }

  #make(name: string, def: EngineDefinition): ContainerEngine {
    const o = this.#o;
    if (def.host.startsWith("unix://")) return new DockerEngine({ host: def.host, env: {} });
    if (def.host.startsWith("tcp://")) return this.#tcp(name, def);
    const url = new URL(def.host);
    const relayPath = relaySocketPath(o.home, name);
    const link = new SshLink({
      name,
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: Number(url.port || 22),
      username: decodeURIComponent(url.username),
      ...(def.identity_file ? { identityFile: expand(def.identity_file, o.userHome) } : {}),
      ...(o.env.SSH_AUTH_SOCK ? { agentSocket: o.env.SSH_AUTH_SOCK } : {}),
      knownHostsFile: expand(def.known_hosts_file, o.userHome),
      socket: def.socket,
      relayPath,
      ...(o.log ? { log: o.log } : {}),
    });
    const tunnel = new SshTunnel(link, () => inner);
    const inner: DockerEngine = new DockerEngine({
      host: `unix://${relayPath}`,
      env: {},
      description: link.address,
      unavailable: (err) => (err instanceof NexusError ? err : link.unavailable((err as Error).message, `Check that the engine on ${link.address} runs, or remove engines.${name} from the config`)),
    });
    return new RemoteEngine(name, tunnel, inner, () => o.local);
  }

  /** A tcp:// engine: TLS with the configured files (plain tcp:// only for `nexus engines`: info() refuses workspaces there). */
  #tcp(name: string, def: EngineDefinition): ContainerEngine {
    const o = this.#o;
    const files = def.tls ? { ca: expand(def.tls.ca, o.userHome), cert: expand(def.tls.cert, o.userHome), key: expand(def.tls.key, o.userHome) } : undefined;
    let tls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;
    if (files) {
      try {
        tls = { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
      } catch (err) {
        throw new NexusError("BACKEND_UNAVAILABLE", `Engine '${name}' (${def.host}): its TLS files cannot be read: ${(err as Error).message}`, {
          suggestion: `Fix engines.${name}.tls in the config`,
          details: { engine: name },
        });
      }
    }
    const tunnel = new ExecTunnel(name, def.host, () => inner);
    const inner: DockerEngine = new DockerEngine({
      host: def.host,
      // The conventional TLS port (2376) when the address names none.
      env: tls ? { DOCKER_TLS_VERIFY: "1" } : {},
      description: def.host,
      unavailable: (err) => tunnel.failure(err, { ca: files?.ca ?? "(none)", cert: files?.cert ?? "(none)" }),
      ...(tls ? { tls } : {}),
    });
    return new RemoteEngine(name, tunnel, inner, () => o.local);
  }

  /** Closes the remote engines' connections and listeners. */
  close(): void {
    for (const e of this.#made.values()) if (e instanceof RemoteEngine) e.close();
  }
}
