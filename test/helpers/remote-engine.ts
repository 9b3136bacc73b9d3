// A stand-in for a remote Docker host (scripts/remote-engine.sh): a private dockerd and an sshd on
// 127.0.0.1 that reaches its socket. Started and stopped by the test that uses it; stop removes all it made.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { privateDockerdUnavailable } from "./private-dockerd.ts";

const SCRIPT = join(import.meta.dir, "..", "..", "scripts", "remote-engine.sh");

export interface RemoteEngineDouble extends AsyncDisposable {
  dir: string;
  host: string;
  port: number;
  identityFile: string;
  knownHostsFile: string;
  socket: string;
  /** The config.yaml lines naming it as engine `remote`. */
  configYaml: string;
  /** The docker CLI against the private engine. */
  docker(...args: string[]): string;
  /** sshd's log so far (its stderr, kept by the machine's engine). */
  sshdLog(): string;
}

/** Why it cannot run here (then the test is skipped), or undefined. */
export function remoteEngineUnavailable(): string | undefined {
  return privateDockerdUnavailable();
}

/** `sshdLogLevel`: sshd's LogLevel (DEBUG2 logs where it sets TCP_NODELAY). */
export function startRemoteEngine(opts: { sshdLogLevel?: string } = {}): RemoteEngineDouble {
  const dir = mkdtempSync("/tmp/nxre.");
  const env = { ...process.env, ...(opts.sshdLogLevel ? { REMOTE_ENGINE_SSHD_LOG_LEVEL: opts.sshdLogLevel } : {}) };
  const r = spawnSync("bash", [SCRIPT, "start", dir], { encoding: "utf8", env, timeout: 300_000, killSignal: "SIGKILL" });
  if (r.status !== 0) {
    spawnSync("bash", [SCRIPT, "stop", dir], { timeout: 300_000 });
    throw new Error(`remote-engine.sh start failed (${r.status ?? r.signal}): ${r.stderr}`);
  }
  const vars = Object.fromEntries(r.stdout.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  const socket = vars.REMOTE_ENGINE_SOCKET!;
  return {
    dir,
    host: vars.REMOTE_ENGINE_HOST!,
    port: Number(vars.REMOTE_ENGINE_PORT),
    identityFile: vars.REMOTE_ENGINE_IDENTITY!,
    knownHostsFile: vars.REMOTE_ENGINE_KNOWN_HOSTS!,
    socket,
    configYaml: readFileSync(join(dir, "engines.yaml"), "utf8"),
    docker: (...args: string[]) => {
      const d = spawnSync("docker", ["-H", `unix://${socket}`, ...args], { encoding: "utf8", timeout: 120_000 });
      if (d.status !== 0) throw new Error(`docker ${args.join(" ")}: ${d.stderr}`);
      return d.stdout.trim();
    },
    sshdLog: () => {
      const name = readFileSync(join(dir, "sshd.name"), "utf8").trim();
      const d = spawnSync("docker", ["logs", name], { encoding: "utf8", timeout: 120_000 });
      return `${d.stdout}${d.stderr}`;
    },
    async [Symbol.asyncDispose]() {
      spawnSync("bash", [SCRIPT, "stop", dir], { timeout: 300_000, killSignal: "SIGKILL" });
    },
  };
}
