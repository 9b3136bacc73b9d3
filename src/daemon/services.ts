import { homedir, userInfo } from "node:os";
import type { NexusConfig } from "../config/schema.ts";
import { containerUser } from "../core/container-user.ts";
import { EventBus } from "../core/events.ts";
import { PortForwards } from "../core/forwards.ts";
import type { Logger } from "../core/log.ts";
import { PortAllocator } from "../core/ports.ts";
import { SessionService } from "../core/sessions/service.ts";
import { WorkspaceService } from "../core/workspaces.ts";
import { CheckpointService } from "../core/checkpoints/service.ts";
import { CheckpointStore } from "../store/checkpoints.ts";
import { DockerEngine } from "../docker/engine.ts";
import { EngineRegistry } from "../docker/engines.ts";
import { instanceId } from "../docker/labels.ts";
import { loadOrCreateKeyPair } from "../ssh/keys.ts";
import { SshPool } from "../ssh/pool.ts";
import type { NexusPaths } from "../store/paths.ts";
import { WorkspaceStore } from "../store/workspaces.ts";
import { join } from "node:path";
import { SyncService } from "../core/sync/service.ts";
import { SyncManager } from "../sync/manager.ts";

export interface Services {
  workspaces: WorkspaceService;
  docker: DockerEngine;
  store: WorkspaceStore;
  events: EventBus;
  forwards: PortForwards;
  sessions: SessionService;
  checkpoints: CheckpointService;
  sync: SyncService;
}

/** Wires the core to its adapters: the daemon and the integration tests build the same graph. */
export function buildServices(opts: { paths: NexusPaths; config: NexusConfig; env: Record<string, string | undefined>; log: Logger; nexusBinary?: string }): Services {
  const { paths, config, env, log } = opts;
  const user = userInfo();
  const clientKey = loadOrCreateKeyPair(paths.clientKey, `nexus-daemon@${user.username}`);
  const store = new WorkspaceStore(paths);
  const docker = new DockerEngine({ ...(config.docker.host ? { host: config.docker.host } : {}), env });
  // Other engines by name (config engines:), remote ones reached over one pooled SSH connection each.
  const engines = new EngineRegistry({ engines: config.engines, local: docker, home: paths.home, userHome: env.HOME || homedir(), env, log });
  const events = new EventBus();
  // Forwards take their host ports from the same range: the allocator must see theirs as taken, and
  // the ports the local engine's containers publish (other NEXUS_HOMEs' stopped workspaces too).
  const ports = new PortAllocator(
    config.ssh.port_range,
    (): number[] => [...store.list().flatMap((r) => [r.ports.ssh, ...r.ports.services.map((p) => p.hostPort)]), ...forwards.hostPorts()],
    () => docker.publishedHostPorts(),
  );
  const workspaces = new WorkspaceService({
    paths,
    config,
    store,
    docker,
    engines,
    // NEXUS_EXEC_AGENT=0: every exec over an SSH session of its own, never the exec agent (for comparing, or an image that misbehaves with it).
    ssh: new SshPool({ privateKey: clientKey.privateKey, execAgent: env.NEXUS_EXEC_AGENT !== "0", log }),
    ports,
    events,
    log,
    instance: instanceId(paths.home),
    clientKey,
    ...(opts.nexusBinary ? { nexusBinary: opts.nexusBinary } : {}),
    // The container user takes the host user's ids, root's included (src/core/container-user.ts).
    hostUser: { ...containerUser(user), home: env.HOME || homedir() },
  });
  const forwards = new PortForwards({ workspaces, ports, events, paths, log, allowPrivilegedPorts: config.daemon.allow_privileged_ports === true });
  // A service port not published at create is reached through a forward.
  workspaces.setPortForwarder(forwards);
  const sessions = new SessionService({ workspaces, paths, config, events, log });
  // File sync for workspaces whose engine cannot bind-mount the worktree; state in ~/.nexus/sync.
  // PATH: where unison or mutagen is found (a caller's env may leave it out).
  const sync = new SyncService({ resolve: (ref) => workspaces.resolve(ref), config: config.sync, syncGit: (r) => workspaces.syncCommits(r), manager: new SyncManager({ dir: join(paths.home, "sync"), env: { PATH: process.env.PATH, ...env }, log: (m) => log.info(m) }) });
  workspaces.setSyncSummary((r) => sync.summary(r));
  // Remote create, start, stop and destroy keep the worktree and the remote /workspace in step through it.
  workspaces.setRemoteSync(sync);
  const checkpoints = new CheckpointService({
    store: new CheckpointStore(paths.checkpoints),
    docker,
    engine: (name) => engines.get(name),
    // A remote workspace's checkpoint flushes its sync first; its restore mirrors the worktree to it.
    sync: {
      remote: (r) => engines.isRemote(r.engine),
      provider: (r) => sync.summary(r).provider,
      flush: async (r) => void (await sync.flush(r.id)),
      mirrorNext: (r) => sync.manager.mirrorNext(r.id),
    },
    workspaces,
    workspaceStore: store,
    log,
    instance: instanceId(paths.home),
    dir: paths.checkpoints,
  });
  workspaces.setCheckpoints(checkpoints);
  return { workspaces, docker, store, events, forwards, sessions, checkpoints, sync };
}
