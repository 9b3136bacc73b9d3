// Engine discovery as a small pure function of config and environment (unit-testable).

export interface EngineAddress {
  socketPath?: string;
  host?: string;
  port?: number;
  protocol?: "http" | "https" | "ssh";
  username?: string;
  description: string;
}

export function engineAddress(configured: string | undefined, env: Record<string, string | undefined>): EngineAddress {
  const spec = configured || env.DOCKER_HOST || "unix:///var/run/docker.sock";
  if (spec.startsWith("unix://")) {
    const socketPath = spec.slice("unix://".length);
    return { socketPath, description: spec };
  }
  const url = new URL(spec);
  if (url.protocol === "tcp:") {
    const tls = env.DOCKER_TLS_VERIFY === "1" || url.port === "2376";
    return { host: url.hostname, port: Number(url.port || (tls ? 2376 : 2375)), protocol: tls ? "https" : "http", description: spec };
  }
  if (url.protocol === "ssh:") {
    return {
      host: url.hostname,
      port: Number(url.port || 22),
      protocol: "ssh",
      ...(url.username ? { username: url.username } : {}),
      description: spec,
    };
  }
  throw new Error(`unsupported docker host '${spec}' (use unix://, tcp:// or ssh://)`);
}
