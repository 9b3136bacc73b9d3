// The `engines:` block of ~/.nexus/config.yaml (an extension of the spec): Docker engines a workspace
// may run on besides the local one, by name. Checked here; reached by src/engines/.
import * as v from "valibot";

/** The name of the engine `docker.host` (or DOCKER_HOST, or the default socket) names. */
export const LOCAL_ENGINE = "local";

export const ENGINE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const EngineHost = v.pipe(
  v.string("expected an address: unix:///path, tcp://host:port or ssh://user@host:port"),
  v.check((s) => /^unix:\/\/\/.+/.test(s) || /^tcp:\/\/[^/\s]+$/.test(s) || /^ssh:\/\/[^/\s@]+@[^/\s@]+(:\d+)?$/.test(s), "expected unix:///path, tcp://host:port or ssh://user@host[:port] (ssh:// needs the user)"),
  v.check((s) => {
    const m = /^(?:tcp|ssh):\/\/(?:[^@]+@)?[^:]+:(\d+)$/.exec(s);
    return !m || (Number(m[1]) >= 1 && Number(m[1]) <= 65535);
  }, "the port must be between 1 and 65535"),
);

const FilePath = v.pipe(v.string("expected a file path"), v.minLength(1, "expected a file path"));

export const EngineDefinition = v.pipe(
  v.strictObject({
    host: EngineHost,
    /** ssh://: the key to log in with; else the ssh-agent's keys (SSH_AUTH_SOCK). */
    identity_file: v.optional(FilePath),
    /** ssh://: where the engine host's key must be listed; never accepted blindly. */
    known_hosts_file: v.optional(FilePath, "~/.ssh/known_hosts"),
    /** ssh://: the engine's socket on that host. */
    socket: v.optional(v.pipe(v.string(), v.regex(/^\/\S+$/, "expected an absolute path")), "/var/run/docker.sock"),
    /** tcp://: TLS with these PEM files (all three, or none for plain tcp). */
    tls: v.optional(v.strictObject({ ca: FilePath, cert: FilePath, key: FilePath })),
  }),
  v.check((e) => !e.tls || e.host.startsWith("tcp://"), "tls is for tcp:// engines only"),
  v.check((e) => e.host.startsWith("ssh://") || (e.identity_file === undefined), "identity_file is for ssh:// engines only"),
);
export type EngineDefinition = v.InferOutput<typeof EngineDefinition>;

export const EngineName = v.pipe(
  v.string(),
  v.regex(ENGINE_NAME, "engine names are lowercase letters, digits, '-' and '_'"),
  v.check((n) => n !== LOCAL_ENGINE, `'${LOCAL_ENGINE}' is the engine of docker.host; give this one another name`),
);

export const Engines = v.record(EngineName, EngineDefinition);

/** An engine reached over ssh:// or tcp:// is another machine's, even when it runs on this one: nothing of this host is mounted into it. */
export function isRemoteHost(host: string): boolean {
  return host.startsWith("ssh://") || host.startsWith("tcp://");
}

/** defaults.engine must name `local` or a configured engine: the problem, or undefined. */
export function defaultEngineProblem(config: { engines: Record<string, unknown>; defaults: { engine: string } }): string | undefined {
  const name = config.defaults.engine;
  if (name === LOCAL_ENGINE || name in config.engines) return undefined;
  const known = [LOCAL_ENGINE, ...Object.keys(config.engines)].join(", ");
  return `'${name}' is not a configured engine (known: ${known})`;
}
