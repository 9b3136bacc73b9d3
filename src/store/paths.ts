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
  const workspaces = join(home, "workspaces");
  return {
    home,
    config: join(home, "config.yaml"),
    daemonSocket: join(home, "daemon.sock"),
    grpcSocket: join(home, "grpc.sock"),
    pidFile: join(home, "daemon.pid"),
    lockFile: join(home, "daemon.lock"),
    daemonLog: join(home, "daemon.log"),
    token: join(home, "token"),
    knownHosts: join(home, "known_hosts"),
    sshConfig: join(home, "ssh_config"),
    clientKey: join(home, "id_ed25519"),
    activeWorkspace: join(home, "session", "active-workspace"),
    workspaces,
    checkpoints: join(home, "checkpoints"),
    trace: join(home, "trace"),
    workspaceDir: (id: string) => join(workspaces, id),
  };
}

/** The account's home folder when HOME is not set (os.homedir asks the password database then). */
function homeFromSystem(): string {
  return (process.getBuiltinModule("node:os") as typeof import("node:os")).homedir();
}
