// Create: plan, then make each part (record, worktree, key, image, volume, container) with its undo,
// roll all of it back on failure, and bring the new workspace up.
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { ownDevcontainer, projectVolumes, writeContainerEnv, writeProjectChoice } from "../devcontainer.ts";
import { readDevcontainer } from "../../config/project.ts";
import { DEFAULT_BASE_IMAGE, DEFAULT_WORKSPACE_IMAGE } from "../../docker/engine.ts";
import * as git from "../../git/git.ts";
import { fingerprint } from "../../ssh/keys.ts";
import type { ProjectConfig } from "../../config/project.ts";
import { callersAgentSocket } from "../caller.ts";
import { errors, NexusError } from "../../kernel/errors.ts";
import type { CreateWorkspaceInput } from "../inputs.ts";
import { toView, type BringUpOptions, type PortMapping, type StartResult, type WorkspaceRecord } from "../../kernel/types.ts";
import type { ProgressSink } from "../../kernel/progress.ts";
import { noProgress } from "./context.ts";
import { workspaceNames } from "./names.ts";
import { workspaceVolume } from "./spec.ts";
import { LOCAL_ENGINE } from "../../config/engines.ts";
import { extraProjectPorts, nameServicePorts, planSource, portMappings, recordPorts, resolveResources, type UndoStep } from "./plan.ts";
import { target } from "./state.ts";
import type { CheckpointSeed } from "./checkpoint-hooks.ts";
import { WorkspaceBringUp } from "./bring-up.ts";
import { createSudo } from "./sudo.ts";

export class WorkspaceCreator extends WorkspaceBringUp {
  async create(input: CreateWorkspaceInput, progress: ProgressSink = noProgress, opts: BringUpOptions = {}): Promise<StartResult> {
    // --from-checkpoint: the checkpoint's repository and commit are the source (checkpoint-hooks.ts).
    const seed = input.fromCheckpoint ? await this.#seed(input) : undefined;
    if (seed) {
      // The checkpoint's image is on the engine it was taken on: the new workspace is made there.
      const engine = seed.engine ?? LOCAL_ENGINE;
      if (input.engine !== undefined && input.engine !== engine) {
        throw errors.invalidArgument(`Checkpoint '${input.fromCheckpoint}' is on engine '${engine}': a workspace from it is made there, not on '${input.engine}'`, `Leave out --engine (or give --engine ${engine})`);
      }
      input = { ...input, engine, ...(seed.repository ? { path: seed.repository } : {}), ...(seed.head && !input.branch ? { fromBranch: seed.head } : {}) };
    }
    const c = this.c;
    const d = c.d;
    const started = Date.now();
    const step = (phase: string, message: string) => progress({ phase, message, elapsedMs: Date.now() - started });

    if (d.store.findByName(input.name) || c.creating.has(input.name)) {
      throw new NexusError("WORKSPACE_ALREADY_EXISTS", `Workspace '${input.name}' already exists`, {
        suggestion: `Pick another name, or remove it with 'nexus destroy ${input.name}'`,
        details: { workspaceName: input.name },
      });
    }
    if (input.agentSocket) callersAgentSocket(input.agentSocket, c.d.docker.address);
    // The engine (--engine, else defaults.engine) and, for a remote one, a sync provider: checked before anything is made.
    const where = this.#engineOf(input);
    const remoteSync = c.isRemote(where) ? c.requireRemoteSync() : undefined;
    c.creating.add(input.name);
    const undo: UndoStep[] = [];
    let record: WorkspaceRecord | undefined;
    let project: ProjectConfig | undefined;
    try {
      const resources = resolveResources(input.resources ?? d.config.workspaces[input.name]?.resources ?? d.config.defaults.resources);
      const id = `ws-${randomBytes(6).toString("hex")}`;
      const names = workspaceNames(input.name, id);
      const now = new Date().toISOString();

      // Repository and worktree plan (validated before anything is made).
      // Bad input is reported as such even without an engine; the engine is checked before anything is made.
      step("repository", "Resolving the repository");
      const engine = input.repo ? await c.engine(where).ping() : undefined;
      const source = await planSource(input, id, d.config, d.paths.home, undo);
      const engineInfo = engine ?? (await c.engine(where).ping());
      const { ncpu } = engineInfo;

      const containerPorts = input.ports ?? [];
      const hostPorts = await d.ports.allocate(1 + containerPorts.length);
      undo.push({ what: "release ports", run: () => d.ports.release(record ? recordPorts(record) : hostPorts) });

      record = {
        id,
        name: input.name,
        displayName: input.displayName ?? input.name,
        status: "pending",
        backend: "docker",
        repository: source.repository,
        worktree: source.worktree,
        mountPath: source.mountPath,
        ...where,
        branch: source.branch,
        image: "",
        containerName: names.container,
        containerId: null,
        homeVolume: names.homeVolume,
        ports: portMappings(hostPorts, containerPorts),
        resources,
        env: { ...d.config.workspaces[input.name]?.env, ...input.env },
        ...(input.labels && Object.keys(input.labels).length ? { labels: input.labels } : {}),
        forwardAgent: input.forwardAgent ?? d.config.ssh.connection.forward_agent,
        hostKeyFingerprint: "",
        error: null,
        createdAt: now,
        updatedAt: now,
        lastActiveAt: now,
      };
      // The record exists before anything else is made, so a daemon killed part way knows what to clean up.
      d.store.save(record);
      undo.push({
        what: "remove record",
        run: () => {
          d.store.remove(id);
          // What memory holds about it (its host key, its git sync state) goes with its folder.
          c.forget(id);
        },
      });

      if (source.makeWorktree) {
        step("worktree", `Creating worktree ${source.mountPath} on branch ${source.branch}`);
        await this.#makeWorktree(record, source.makeWorktree, undo);
      }
      if (seed) {
        step("checkpoint", `Bringing the checkpoint's files into ${record.mountPath}`);
        await seed.fillWorktree(record.mountPath);
      }
      // The workspace's own git dir (git-sync/service.ts): removed with the record on rollback. A remote
      // workspace gets one inside its volume once it runs (prepareRemote below).
      if (!remoteSync) await c.git.prepare(record);

      // The project's .nexus/workspace.yaml (in the new worktree) adds ports, resources, image, hooks, services.
      mkdirSync(d.paths.workspaceDir(id), { recursive: true, mode: 0o700 });
      // devcontainer.json is read once, here: later starts use this copy (core/devcontainer.ts).
      const devcontainerCopy = readDevcontainer(record.mountPath, input.devcontainer);
      // Its initializeCommand runs here without --trust (or the config's consent) only when it is the
      // user's own: the one in their checkout. Not a clone's, a checkpoint's (a workspace wrote them),
      // or a branch's that differs (a workspace may have committed it).
      const checkout = source.repository?.path ?? source.mountPath;
      const own = source.repository?.cloned
        ? { own: false as const, why: "the repository was cloned" }
        : seed
          ? { own: false as const, why: "a workspace wrote the checkpoint's files" }
          : ownDevcontainer(devcontainerCopy, checkout, d.store.list().some((w) => w.id !== id && w.mountPath === checkout));
      const trusted = input.trust === true || d.config.defaults.trust_host_commands || own.own;
      writeProjectChoice(d.paths.workspaceDir(id), { ...(input.devcontainer ? { devcontainer: input.devcontainer } : {}), trusted, ...(!own.own && !trusted ? { untrustedWhy: own.why } : {}), devcontainerCopy });
      project = c.project(record);
      if (project.files.length > 0) step("config", `Project configuration: ${project.files.join(", ")}`);
      await this.services.beforeContainer(record, project, engineInfo, step);
      await this.#applyProject(record, project, input);
      // sudo inside lifts no-new-privileges (docker/hardening.ts): the project's opt-in, or the checkpoint's workspace's (sudo.ts).
      const sudo = createSudo(input.name, project, seed, d.config.workspaces[input.name]?.sudo);
      if (sudo.sudo) record.sudo = true;
      if (sudo.note) step("config", sudo.note);
      d.store.save(record);

      // Secrets are read on the host before anything starts: one that cannot be read stops the create, naming it.
      const secretValues = await c.secrets.read();
      if (secretValues) step("secrets", `Read ${Object.keys(secretValues.env).length} secret(s)${secretValues.sshKeys.length ? ` and ${secretValues.sshKeys.length} SSH key(s)` : ""} on the host`);

      step("keys", "Generating SSH host key");
      const hostKey = c.hostKeys.make(record.id, names.keyComment);
      record.hostKeyFingerprint = fingerprint(hostKey.publicKey);

      const labels = this.container.labels(record);
      let base = input.image ?? project.image ?? d.config.defaults.image;
      if (seed) record.image = seed.image;
      else if (!input.image && project.dockerfile) {
        step("image", `Building the project's image from ${project.dockerfile}`);
        base = await c.engine(record).buildProjectImage(project.dockerfile, (e) => step(e.phase, e.message), project.build);
      }
      if (base === DEFAULT_WORKSPACE_IMAGE) base = DEFAULT_BASE_IMAGE;
      // A checkpoint brings its own image; otherwise local features go on the base, then Nexus's layer.
      if (!seed && !input.image && project.devcontainer?.features.length) base = await c.engine(record).buildFeaturesImage(base, project.devcontainer.features, (e) => step(e.phase, e.message));
      if (!seed) record.image = await c.engine(record).ensureWorkspaceImage(base, (e) => step(e.phase, e.message));
      d.store.save(record);
      if (project.devcontainer) {
        // ${containerEnv:...} can be substituted now that the image (and so the container's environment) is known.
        writeContainerEnv(d.paths.workspaceDir(id), { ...(await c.engine(record).imageEnv(record.image)), ...project.devcontainer.container.env });
        project = c.project(record);
        for (const volume of projectVolumes(project)) if (!(await c.engine(record).volumeExists(volume))) await c.engine(record).createVolume(volume, labels);
      }

      step("container", `Creating container ${record.containerName}${where.engine ? ` on engine '${where.engine}'` : ""}`);
      const eng = c.engine(record);
      await eng.createVolume(record.homeVolume, labels);
      undo.push({ what: "remove volume", run: () => eng.removeVolume(record!.homeVolume) });
      if (remoteSync) {
        // /workspace is a volume there, filled by sync (never a path of this machine).
        await eng.createVolume(workspaceVolume(record), labels);
        undo.push({ what: "remove workspace volume", run: () => eng.removeVolume(workspaceVolume(record!)) });
      }
      undo.push({ what: "remove container", run: async () => void (record!.containerId && (await eng.removeContainer(record!.containerId))) });
      for (let attempt = 1; ; attempt++) {
        record.containerId = await this.container.create(record, ncpu, project);
        d.store.save(record);
        // Its engine's events reach the daemon from now on (the first workspace on an engine).
        c.engineInUse?.(record.engine);
        if (seed) {
          step("checkpoint", "Bringing the checkpoint's container filesystem and home in");
          await seed.fillContainer(record.containerId);
        }
        try {
          await this.boot(record, { hostKey: () => hostKey, agentSocket: input.agentSocket, env: project.env, step });
          break;
        } catch (err) {
          if (!(err instanceof NexusError && err.code === "PORT_CONFLICT") || attempt >= 3) throw err;
          // Another process took a port between allocation and start: new ports, new container (spec §3.6 recovery).
          const taken = recordPorts(record);
          const fresh = await d.ports.allocate(taken.length);
          d.ports.release(taken);
          step("start", `A port was taken meanwhile; retrying with new ports (ssh ${fresh[0]})`);
          await eng.removeContainer(record.containerId);
          record.ports = {
            ssh: fresh[0]!,
            services: record.ports.services.map((p, i) => ({ ...p, hostPort: fresh[i + 1]! })),
          };
        }
      }

      const r = record;
      await this.catchUp(r, {
        secrets: secretValues,
        agentSocket: input.agentSocket,
        step,
        syncMessage: `Syncing ${r.mountPath} to /workspace on engine '${r.engine}'`,
        syncProgress: (e) => step(e.phase, e.message),
        onAttach: () => undo.push({ what: "stop file sync", run: () => remoteSync!.detach(r) }),
        gitRequired: true,
      });

      record.status = target("start");
      record.updatedAt = new Date().toISOString();
      d.store.save(record);
      c.syncSshFiles();
      c.publishStatus(record);
    } catch (err) {
      await this.#rollback(undo, input.name);
      c.creating.delete(input.name);
      throw err;
    }
    // The workspace exists from here: a failing hook leaves it in `error` (nothing is rolled back,
    // no work is lost), and `nexus start` tries again.
    const made = record;
    try {
      const services = await c.exclusive(made.id, () => this.services.bringUpOrFail(made, project!, opts, step));
      step("ready", `Workspace ${made.name} is ready`);
      d.log.info(`created ${made.name} (${made.id}) in ${Date.now() - started} ms`);
      return { ...toView(made), services, durationMs: Date.now() - started };
    } finally {
      c.creating.delete(input.name);
    }
  }

  /** `{ engine }` for a workspace on a configured engine, `{}` for the local one. */
  #engineOf(input: CreateWorkspaceInput): { engine?: string } {
    const d = this.c.d;
    const name = input.engine ?? d.config.defaults.engine;
    if (name === LOCAL_ENGINE) return {};
    if (!d.engines?.has(name)) {
      throw new NexusError("INVALID_ARGUMENT", `'${name}' is not a configured engine`, {
        suggestion: "Add it under engines: in ~/.nexus/config.yaml, or pick one from 'nexus engines'",
        details: { engine: name },
      });
    }
    const info = d.engines.info(name);
    if (!info.workspaces) {
      throw new NexusError("INVALID_ARGUMENT", `Engine '${name}' (${info.host}) cannot run workspaces: ${info.refusal?.message ?? "not supported"}`, {
        suggestion: info.refusal?.suggestion ?? "Pick another engine from 'nexus engines'",
        details: { engine: name },
      });
    }
    return { engine: name };
  }

  async #seed(input: CreateWorkspaceInput): Promise<CheckpointSeed> {
    const hooks = this.c.checkpoints;
    if (!hooks) throw new NexusError("UNIMPLEMENTED", "Checkpoints are not available in this daemon", { suggestion: "Create the workspace without --from-checkpoint" });
    if (input.repo || input.image || input.noWorktree || input.fromBranch) {
      throw errors.invalidArgument("--from-checkpoint takes the repository, base commit and image from the checkpoint", "Leave out --repo, --image, --no-worktree and --from-branch");
    }
    return hooks.seed(input.fromCheckpoint!);
  }

  /** Ports (published at create, named after the service using them) and resources from the project. */
  async #applyProject(record: WorkspaceRecord, project: ProjectConfig, input: CreateWorkspaceInput): Promise<void> {
    const extra = extraProjectPorts(project, record.ports.services);
    if (extra.length > 0) {
      const more = await this.c.d.ports.allocate(extra.length);
      record.ports.services.push(...extra.map((containerPort, i): PortMapping => ({ name: `port-${containerPort}`, containerPort, hostPort: more[i]! })));
    }
    nameServicePorts(record.ports.services, project);
    if (input.resources === undefined && project.resources !== undefined) record.resources = resolveResources(project.resources);
  }

  async #makeWorktree(record: WorkspaceRecord, plan: { repo: string; commonDir: string; base: string | undefined }, undo: UndoStep[]) {
    const repoLocks = this.c.repoLocks;
    const wt = record.worktree!;
    await repoLocks.run(plan.repo, async () => {
      git.excludeWorktreeDir(plan.commonDir);
      await git.addWorktree(plan.repo, wt.path, wt.branch, plan.base !== undefined ? { createFrom: plan.base } : {});
    });
    undo.push({
      what: "remove worktree",
      run: () =>
        repoLocks.run(plan.repo, async () => {
          await git.removeWorktree(plan.repo, wt.path);
          if (wt.branchCreated) await git.deleteBranch(plan.repo, wt.branch);
        }),
    });
  }

  async #rollback(undo: UndoStep[], name: string): Promise<void> {
    for (const u of undo.reverse()) {
      try {
        await u.run();
      } catch (err) {
        this.c.d.log.warn(`rollback of ${name}: could not ${u.what}: ${(err as Error).message}`);
      }
    }
  }
}
