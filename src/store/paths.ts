// No node:os or node:path here: every CLI command builds these paths first thing (kernel/posix-path.ts).
import { joinPosix as join, resolvePosix as resolve } from "../kernel/posix-path.ts";

/** Where everything of one Nexus installation lives. NEXUS_HOME overrides ~/.nexus. */
export interface NexusPaths {
  home: string;
  config: string;
  daemonSocket: string;
  grpcSocket: string;
  pidFile: string;
  lockFile: string;
  daemonLog: string;
  token: string;
  knownHosts: string;
  sshConfig: string;
  clientKey: string;
  activeWorkspace: string;
  workspaces: string;
  checkpoints: string;
  /** The operation history (`nexus trace`). */
  trace: string;
  workspaceDir(id: string): string;
}

export function nexusPaths(env: Record<string, string | undefined>): NexusPaths {
  const home = resolve(env.NEXUS_HOME || join(env.HOME || homeFromSystem(), ".nexus"));
  // `home` is normalized and absolute, so a name under it needs no join (the CLI builds these first thing).
  const under = home === "/" ? (name: string) => `/${name}` : (name: string) => `${home}/${name}`;
  const workspaces = under("workspaces");
  return {
    home,
    config: under("config.yaml"),
    daemonSocket: under("daemon.sock"),
    grpcSocket: under("grpc.sock"),
    pidFile: under("daemon.pid"),
    lockFile: under("daemon.lock"),
    daemonLog: under("daemon.log"),
    token: under("token"),
    knownHosts: under("known_hosts"),
    sshConfig: under("ssh_config"),
    clientKey: under("id_ed25519"),
    activeWorkspace: under("session/active-workspace"),
    workspaces,
    checkpoints: under("checkpoints"),
    trace: under("trace"),
    workspaceDir: (id: string) => join(workspaces, id),
  };
}

/** The account's home folder when HOME is not set (os.homedir asks the password database then). */
function homeFromSystem(): string {
  return (process.getBuiltinModule("node:os") as typeof import("node:os")).homedir();
}
