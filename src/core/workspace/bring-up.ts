// What create and start both do to bring a workspace's container up from its record: give it its
// files, start it and wait for SSH; then catch a remote workspace's /workspace up with the worktree
// and write the secrets. WorkspaceCreator and WorkspaceLifecycle both build on this one class, so the
// two ways a container comes up cannot drift apart.
import type { KeyPair } from "../../ssh/keys.ts";
import type { ProjectConfig } from "../../config/project.ts";
import { hasCode } from "../../kernel/errors.ts";
import type { WorkspaceRecord } from "../../kernel/types.ts";
import type { ProgressSink } from "../../kernel/progress.ts";
import type { WorkspaceContainer } from "./container.ts";
import type { WorkspaceContext } from "./context.ts";
import type { SecretSet } from "./secrets.ts";
import type { WorkspaceServices } from "./services.ts";
import { moveToFreePorts } from "./port-move.ts";

/** A progress line of one operation: its phase and what happens. */
export type Step = (phase: string, message: string) => void;

/** What boot needs beside the record. */
export interface BootOptions {
  hostKey: () => KeyPair;
  agentSocket: string | undefined;
  env: Record<string, string>;
  step: Step;
  filesInstalled?: boolean;
  beforeStart?: () => Promise<void>;
  mark?: (phase: string) => void;
}

export abstract class WorkspaceBringUp {
  protected readonly c: WorkspaceContext;
  protected readonly container: WorkspaceContainer;
  protected readonly services: WorkspaceServices;

  constructor(c: WorkspaceContext, container: WorkspaceContainer, services: WorkspaceServices) {
    this.c = c;
    this.container = container;
    this.services = services;
  }

  /**
   * The container's files in (host key, authorized keys, environment), then started and answering SSH.
   * `filesInstalled`: the container holds them already (a restore copied them in with the checkpoint's);
   * the host key is read only when the files are written. `mark` closes a phase of the caller's
   * timing at each step (a restore's split: start-prep, engine-start, ssh-ready).
   */
  protected async boot(r: WorkspaceRecord, o: BootOptions): Promise<void> {
    if (o.filesInstalled) this.container.filesInstalled(r);
    else await this.container.installFiles(r, o.hostKey(), o.agentSocket, o.env);
    o.step("start", "Starting container");
    await o.beforeStart?.();
    o.mark?.("start-prep");
    await this.container.startAndWait(r, o.mark);
  }

  /**
   * boot an existing container; when another program took one of its host ports while it was down,
   * the workspace moves to fresh ports with its files (port-move.ts) and boots there. A remote
   * engine's ports are its tunnel's on this machine: left as they were (the start fails as before).
   */
  protected async bootOrMove(r: WorkspaceRecord, project: ProjectConfig, o: BootOptions): Promise<void> {
    try {
      await this.boot(r, o);
    } catch (err) {
      if (!hasCode("PORT_CONFLICT")(err) || this.c.isRemote(r)) throw err;
      // The new container gets its files written (a restore's copy went into the old one); the restore's ports are released already.
      const fresh: BootOptions = { hostKey: o.hostKey, agentSocket: o.agentSocket, env: o.env, step: o.step, ...(o.mark ? { mark: o.mark } : {}) };
      await moveToFreePorts(this.c, this.container, r, project, () => this.boot(r, fresh), o.step);
    }
  }

  /**
   * After the container answers: a remote workspace's /workspace catches up with the worktree before
   * it counts as up (`onAttach` runs first: create keeps its undo there), then the secrets read on the
   * host go onto the container's tmpfs (a fresh container's tmpfs is empty: what was written before is forgotten).
   */
  protected async catchUp(r: WorkspaceRecord, o: { secrets: SecretSet | undefined; agentSocket: string | undefined; step: Step; syncMessage: string; syncProgress: ProgressSink; onAttach?: () => void; gitRequired?: boolean }): Promise<void> {
    const c = this.c;
    if (c.isRemote(r)) {
      const sync = c.requireRemoteSync();
      o.step("sync", o.syncMessage);
      o.onAttach?.();
      // Sync's ssh checks the workspace's host key against ~/.nexus/known_hosts (a rotated key takes over at start): write it first.
      c.syncSshFiles();
      await sync.attach(r, c.sshEndpoint(r), o.syncProgress);
      // Its repository inside, from the host's refs (remote-git.ts): git works there, commits reach the
      // branch here. Create fails without it; a start only warns (a volume holding one keeps it).
      o.step("sync", "Making the workspace's git repository from this one's branches");
      const made = c.git.prepareRemote(r);
      await (o.gitRequired ? made : made.catch((err: Error) => c.d.log.warn(`${r.name}: git inside: ${err.message}`)));
    }
    c.secrets.forget(r.id);
    if (o.secrets) await c.secrets.install(r, o.secrets, !!o.agentSocket && c.forwardsAgent(r));
  }
}
