// Hooks and services of a running workspace: bring-up after start (pre-start, services in dependency
// order, health, post-start), bring-down before stop, and the service and hook operations.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { HOOK_NAMES, type HookName, type ProjectConfig, type ServiceDefinition } from "../../config/project.ts";
import { errors, NexusError } from "../../kernel/errors.ts";
import { hookCommandLine, hookFailed, hookNotDefined, runHookSteps, type HookResult } from "../hooks.ts";
import { listeningOn, parseProcNetTcp, PROC_NET_TCP } from "../listeners.ts";
import { describeProbe, isReady, serviceLogs, serviceStates, sinceTimestamp, startService, startServices, stopService, stopServices, waitReady, type LogEntry, type SupervisorState } from "../services.ts";
import type { BringUpOptions, ServiceHealthView, ServiceView, WorkspaceRecord, WorkspaceStatus } from "../../kernel/types.ts";
import type { WorkspaceChannel } from "./channel.ts";
import { DEFAULT_BRING_UP_SECONDS, READY_TIMEOUT_MS, type WorkspaceContext } from "./context.ts";
import { oneOffSpec } from "./spec.ts";
import { requireRunning } from "./state.ts";
import { configSources } from "../../config/sources.ts";
import * as devcontainer from "../devcontainer.ts";

/** Reports a step of a longer operation (create, start) to its caller. */
export type StepReporter = (phase: string, message: string) => void;

export class WorkspaceServices {
  readonly #c: WorkspaceContext;
  readonly #channel: WorkspaceChannel;

  constructor(c: WorkspaceContext, channel: WorkspaceChannel) {
    this.#c = c;
    this.#channel = channel;
  }

  #hookLog(r: WorkspaceRecord, hook: HookName | "initialize"): string {
    return join(this.#c.d.paths.workspaceDir(r.id), "logs", "hooks", `${hook}.log`);
  }

  /** Runs a hook's steps: in the workspace over SSH, or (post-stop) in a one-off container with the same image and mounts. */
  async #runHook(r: WorkspaceRecord, project: ProjectConfig, hook: HookName, timeoutSeconds?: number): Promise<HookResult> {
    const d = this.#c.d;
    const steps = (project.hooks[hook] ?? []).map((st) => (timeoutSeconds ? { ...st, timeoutSeconds } : st));
    const env = { ...project.env, ...r.env };
    const run =
      hook === "post-stop"
        ? async (step: (typeof steps)[number], signal: AbortSignal) => {
            const remote = this.#c.isRemote(r);
            const spec = oneOffSpec(r, d.instance, d.hostUser, hookCommandLine(hook, step, r.name), env, randomBytes(3).toString("hex"), remote ? [] : this.#c.git.mounts(r), remote);
            const res = await this.#c.engine(r).runOneOff(spec, step.timeoutSeconds * 1000);
            if (res.timedOut && !signal.aborted) return { exitCode: 124, output: res.output };
            return { exitCode: res.exitCode, output: res.output };
          }
        : async (step: (typeof steps)[number], signal: AbortSignal) => {
            const res = await this.#channel.shell(r).run(hookCommandLine(hook, step, r.name), { signal });
            return { exitCode: res.exitCode, output: res.stdout + res.stderr };
          };
    const result = await runHookSteps(hook, steps, run, this.#hookLog(r, hook));
    d.log.info(`${r.name}: ${hook} hook exited ${result.exitCode} in ${result.durationMs} ms`);
    return result;
  }

  async #runHookOrFail(r: WorkspaceRecord, project: ProjectConfig, hook: HookName, step: StepReporter): Promise<void> {
    if (!project.hooks[hook]?.length) return;
    step("hooks", `Running the ${hook} hook`);
    const result = await this.#runHook(r, project, hook);
    if (result.exitCode !== 0) throw hookFailed(r.name, result, project.sources[`hooks.${hook}`]);
  }

  /** onCreate, updateContent and postCreate: once per workspace, the first time it comes up (again after a failure). */
  async #runCreateOnce(r: WorkspaceRecord, project: ProjectConfig, step: StepReporter): Promise<void> {
    const dir = this.#c.d.paths.workspaceDir(r.id);
    if (devcontainer.createHooksDone(dir)) return;
    for (const hook of devcontainer.CREATE_ONCE_HOOKS) await this.#runHookOrFail(r, project, hook, step);
    devcontainer.markCreateHooksDone(dir);
  }

  /**
   * Before the container is made or started: which file set what, devcontainer.json's caveats and
   * hostRequirements, then its initializeCommand on this machine (with the consent given at create).
   */
  async beforeContainer(r: WorkspaceRecord, project: ProjectConfig, engine: { ncpu: number; memTotal: number }, step: StepReporter): Promise<void> {
    const d = this.#c.d;
    const dc = project.devcontainer;
    if (!dc) return;
    for (const line of configSources(project, r.mountPath)) step("config", line);
    for (const note of dc.notes) step("config", `Note: ${note}`);
    for (const warning of devcontainer.hostRequirementWarnings(dc.hostRequirements, engine, r.mountPath)) {
      step("config", `Warning: ${warning}`);
      d.log.warn(`${r.name}: ${warning}`);
    }
    if (dc.initialize.length === 0) return;
    const choice = devcontainer.readProjectChoice(d.paths.workspaceDir(r.id));
    devcontainer.requireTrust(dc.initialize, dc.file, choice.trusted, choice.untrustedWhy);
    step("hooks", `Running initializeCommand on this machine (${dc.file})`);
    const result = await devcontainer.runInitializeCommand(dc.initialize, this.#hookLog(r, "initialize"));
    d.log.info(`${r.name}: initializeCommand exited ${result.exitCode} in ${result.durationMs} ms`);
    if (result.exitCode !== 0) throw devcontainer.initializeFailed(r.name, dc.file, result);
  }

  /**
   * After SSH answers: pre-start hook, services in dependency order, wait until they are healthy
   * (blocking, up to the timeout), post-start hook. Non-blocking returns once services are started
   * and finishes the rest in the background.
   */
  async bringUp(r: WorkspaceRecord, project: ProjectConfig, opts: BringUpOptions, step: StepReporter): Promise<ServiceHealthView[]> {
    const c = this.#c;
    const deadline = Date.now() + (opts.timeoutSeconds ?? DEFAULT_BRING_UP_SECONDS) * 1000;
    if (!opts.skipHooks) await this.#runCreateOnce(r, project, step);
    if (!opts.skipHooks) await this.#runHookOrFail(r, project, "pre-start", step);
    const services = opts.skipServices ? [] : project.services;
    const sh = await this.#channel.serviceShell(r);
    let notStarted = new Map<string, string>();
    if (services.length > 0) notStarted = await startServices(sh, services, { deadline, onProgress: (m) => step("services", m) });
    const finish = async () => {
      const names = services.filter((sv) => !notStarted.has(sv.name)).map((sv) => sv.name);
      if (names.length > 0) step("services", `Waiting until ${names.join(", ")} ${names.length === 1 ? "is" : "are"} healthy`);
      const states = names.length > 0 ? await waitReady(sh, names, deadline) : new Map<string, SupervisorState>();
      if (!opts.skipHooks) await this.#runHookOrFail(r, project, "post-start", step);
      return Promise.all(project.services.map((def) => this.serviceHealth(r, def, states.get(def.name), notStarted.get(def.name) ?? (opts.skipServices ? "not started (skip services)" : undefined))));
    };
    if (opts.blocking === false) {
      // Finished outside the workspace's lock: a pause, stop or restart meanwhile is what cut it short,
      // and must not be turned into an error afterwards (a paused workspace would show `error`).
      const changes = c.locks.changes(r.id);
      void finish().catch((err: unknown) => {
        if (c.d.store.get(r.id)?.status === "running" && c.locks.changes(r.id) === changes) this.bringUpFailed(r.id, err);
        else c.d.log.warn(`${r.name}: the rest of its start was cut short by a status change: ${(err as Error).message}`);
      });
      return Promise.all(project.services.map((def) => this.serviceHealth(r, def, undefined, notStarted.get(def.name) ?? (opts.skipServices ? "not started (skip services)" : "starting"))));
    }
    return finish();
  }

  /** bring-up whose failure leaves the workspace in `error` with the cause (a hook's log tail in its details). */
  async bringUpOrFail(r: WorkspaceRecord, project: ProjectConfig, opts: BringUpOptions, step: StepReporter): Promise<ServiceHealthView[]> {
    try {
      return await this.bringUp(r, project, opts, step);
    } catch (err) {
      this.bringUpFailed(r.id, err);
      throw err;
    }
  }

  bringUpFailed(id: string, err: unknown): void {
    const c = this.#c;
    const r = c.d.store.get(id);
    if (!r) return;
    const e = err instanceof NexusError ? err : new NexusError("WORKSPACE_START_FAILED", (err as Error).message);
    c.d.log.warn(`${r.name}: start failed: ${e.message}`);
    c.setStatus(r, "error", { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) });
  }

  /** Every service's health now (none when the project does not parse, all stopped when not running or the supervisor does not answer). */
  async currentHealth(r: WorkspaceRecord, project: ProjectConfig | undefined): Promise<ServiceHealthView[]> {
    const states = r.status === "running" && project?.services.length ? await this.#channel.serviceShell(r).then(serviceStates).catch(() => new Map<string, SupervisorState>()) : new Map<string, SupervisorState>();
    return Promise.all((project?.services ?? []).map((def) => this.serviceHealth(r, def, states.get(def.name))));
  }

  /** The spec's ServiceHealth of one service, with its URL (published port, or a daemon forward). */
  async serviceHealth(r: WorkspaceRecord, def: ServiceDefinition, state: SupervisorState | undefined, note?: string): Promise<ServiceHealthView> {
    const where = await this.#serviceUrl(r, def);
    return {
      name: def.name,
      status: state?.status ?? (note === "starting" ? "starting" : "stopped"),
      port: where?.hostPort ?? null,
      url: where?.url ?? null,
      ...(note && note !== "starting" ? { message: note } : state?.message ? { message: state.message } : {}),
    };
  }

  async #serviceUrl(r: WorkspaceRecord, def: ServiceDefinition): Promise<{ hostPort: number; url: string } | undefined> {
    const c = this.#c;
    if (def.port === undefined) return undefined;
    const published = r.ports.services.find((p) => p.containerPort === def.port);
    if (published) return { hostPort: published.hostPort, url: `http://localhost:${published.hostPort}` };
    if (!c.forwarder || r.status !== "running") return undefined;
    try {
      return await c.forwarder.ensure(r.id, def.port);
    } catch (err) {
      c.d.log.warn(`${r.name}: could not forward port ${def.port} of service ${def.name}: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Stops services (reverse order) after the pre-stop hook; failures are logged: a stop always stops. */
  async bringDown(r: WorkspaceRecord, project: ProjectConfig | undefined): Promise<void> {
    const log = this.#c.d.log;
    if (!project || (!project.hooks["pre-stop"]?.length && project.services.length === 0)) return;
    if (project.hooks["pre-stop"]?.length) {
      const res = await this.#runHook(r, project, "pre-stop").catch((err: Error) => log.warn(`${r.name}: pre-stop hook: ${err.message}`));
      if (res && res.exitCode !== 0) log.warn(`${r.name}: pre-stop hook exited ${res.exitCode} (see ${res.logFile}); stopping anyway`);
    }
    await stopServices(await this.#channel.serviceShell(r), project.services).catch((err: Error) => log.warn(`${r.name}: stopping services: ${err.message}`));
  }

  async postStop(r: WorkspaceRecord, project: ProjectConfig | undefined): Promise<void> {
    const log = this.#c.d.log;
    if (!project?.hooks["post-stop"]?.length) return;
    const res = await this.#runHook(r, project, "post-stop").catch((err: Error) => log.warn(`${r.name}: post-stop hook: ${err.message}`));
    if (res && res.exitCode !== 0) log.warn(`${r.name}: post-stop hook exited ${res.exitCode} (see ${res.logFile})`);
  }

  /** `POST /hooks/{hook}`: runs one hook now and answers its exit code and output tail. */
  async runHook(ref: string, hook: string, opts: { timeoutSeconds?: number } = {}): Promise<HookResult & { workspaceId: string }> {
    const r = this.#c.resolve(ref);
    if (!(HOOK_NAMES as readonly string[]).includes(hook)) {
      throw errors.invalidArgument(`Unknown hook '${hook}'`, `Use one of ${HOOK_NAMES.join(", ")}`, { hook });
    }
    const name = hook as HookName;
    const project = this.#c.project(r);
    if (!project.hooks[name]?.length) throw hookNotDefined(r.name, name, project.files);
    if (name !== "post-stop") requireRunning(r, `run its ${name} hook`);
    return { workspaceId: r.id, ...(await this.#runHook(r, project, name, opts.timeoutSeconds)) };
  }

  #serviceDefinition(r: WorkspaceRecord, project: ProjectConfig, name: string): ServiceDefinition {
    const def = project.services.find((sv) => sv.name === name);
    if (!def) {
      throw new NexusError("NOT_FOUND", `Workspace '${r.name}' has no service '${name}'`, {
        suggestion: `Run 'nexus services ${r.name}' to see its services`,
        details: { workspaceName: r.name, service: name, services: project.services.map((sv) => sv.name) },
      });
    }
    return def;
  }

  /** `GET /services`: every service of the project with its state, ports and URL. */
  async listServices(ref: string): Promise<{ workspaceId: string; services: ServiceView[] }> {
    const r = this.#c.resolve(ref);
    const project = this.#c.project(r);
    const states = r.status === "running" && project.services.length > 0 ? await serviceStates(await this.#channel.serviceShell(r)) : new Map<string, SupervisorState>();
    // A server bound to 127.0.0.1 inside passes its (inside) health check, yet its published port shows nothing: say so.
    const publishedUp = project.services.some((def) => r.ports.services.some((p) => p.containerPort === def.port) && isReady(states.get(def.name)));
    const listeners = publishedUp ? await this.#channel.shell(r).run(PROC_NET_TCP).then((o) => parseProcNetTcp(o.stdout), () => undefined) : undefined;
    const services = await Promise.all(
      project.services.map(async (def): Promise<ServiceView> => {
        const st = states.get(def.name);
        const where = await this.#serviceUrl(r, def);
        const published = def.port !== undefined && r.ports.services.some((p) => p.containerPort === def.port);
        const loopbackOnly = published && listeners !== undefined && listeningOn(listeners, def.port!).loopbackOnly;
        return {
          ...(loopbackOnly
            ? { hint: `${def.name} listens on 127.0.0.1 only inside the workspace, so its published port ${where?.hostPort} shows nothing: bind it to 0.0.0.0 (e.g. --host 0.0.0.0), or forward the port ('nexus proxy ${r.name} ${def.port}')` }
            : {}),
          name: def.name,
          status: st?.status ?? "stopped",
          containerPort: def.port ?? null,
          hostPort: where?.hostPort ?? null,
          url: where?.url ?? null,
          healthCheck: describeProbe(def.health),
          dependsOn: def.dependsOn,
          pid: st?.pid ?? null,
          restarts: st?.restarts ?? 0,
          lastExitCode: st?.lastExitCode ?? null,
          startedAt: st?.startedAt ?? null,
          message: st?.message ?? (r.status === "running" ? "not started" : `the workspace is ${r.status}`),
          lastProbe: st?.probe ?? null,
        };
      }),
    );
    return { workspaceId: r.id, services };
  }

  /** A service's log: the last `tail` lines, then new ones while `follow` (until the signal aborts); a promise from onEntry pauses the log's reading (back-pressure). */
  async serviceLogs(ref: string, service: string, opts: { tail: number; follow: boolean; since?: string; signal?: AbortSignal }, onEntry: (e: LogEntry) => unknown): Promise<void> {
    const r = this.#c.resolve(ref);
    this.#serviceDefinition(r, this.#c.project(r), service);
    // `since`: a timestamp, or a duration back from now (10m); entries older than it are left out.
    const since = opts.since !== undefined ? sinceTimestamp(opts.since) : undefined;
    requireRunning(r, "read its service logs");
    await serviceLogs(await this.#channel.serviceShell(r), service, opts, since ? (e) => (e.timestamp >= since ? onEntry(e) : undefined) : onEntry);
  }

  /** Stops and starts one service with its current definition; answers once it is ready (or after the timeout). */
  async restartService(ref: string, service: string, opts: { timeoutSeconds?: number } = {}): Promise<ServiceHealthView & { workspaceId: string; durationMs: number }> {
    const started = Date.now();
    // Under the workspace's lock: a start still bringing services up (or a stop) finishes first, so
    // the two never start the same service at once.
    return this.#c.locked(ref, async (r) => {
      const def = this.#serviceDefinition(r, this.#c.project(r), service);
      requireRunning(r, "restart a service");
      const sh = await this.#channel.serviceShell(r);
      await stopService(sh, def.name);
      await startService(sh, def);
      const states = await waitReady(sh, [def.name], Date.now() + (opts.timeoutSeconds ?? 60) * 1000);
      return { workspaceId: r.id, ...(await this.serviceHealth(r, def, states.get(def.name))), durationMs: Date.now() - started };
    });
  }

  /** Healthy: running, every service ready, and the health-check hook (if any) exits 0. */
  async health(ref: string): Promise<{ workspaceId: string; healthy: boolean; status: WorkspaceStatus; services: ServiceHealthView[]; healthCheck: { exitCode: number; output: string } | null }> {
    const r = this.#c.resolve(ref);
    if (r.status !== "running") return { workspaceId: r.id, healthy: false, status: r.status, services: [], healthCheck: null };
    const project = this.#c.project(r);
    const states = project.services.length > 0 ? await serviceStates(await this.#channel.serviceShell(r)) : new Map<string, SupervisorState>();
    const services = await Promise.all(project.services.map((def) => this.serviceHealth(r, def, states.get(def.name))));
    let healthCheck: { exitCode: number; output: string } | null = null;
    if (project.hooks["health-check"]?.length) {
      const res = await this.#runHook(r, project, "health-check");
      healthCheck = { exitCode: res.exitCode, output: res.output };
    }
    const healthy = project.services.every((def) => isReady(states.get(def.name))) && (healthCheck === null || healthCheck.exitCode === 0);
    return { workspaceId: r.id, healthy, status: r.status, services, healthCheck };
  }

  /** Services after resume: frozen with everything else; with blocking (the default) this waits until they answer again. */
  async afterResume(r: WorkspaceRecord, project: ProjectConfig, opts: { blocking?: boolean; timeoutSeconds?: number }): Promise<ServiceHealthView[]> {
    const sh = await this.#channel.serviceShell(r);
    const names = project.services.map((sv) => sv.name);
    const states = await (opts.blocking === false ? serviceStates(sh) : waitReady(sh, names, Date.now() + (opts.timeoutSeconds ?? DEFAULT_BRING_UP_SECONDS) * 1000)).catch(() => new Map<string, SupervisorState>());
    return Promise.all(project.services.map((def) => this.serviceHealth(r, def, states.get(def.name))));
  }

  /** After the container came back without us (engine restart, daemon restart): its services are started again (no hooks). */
  async restore(id: string): Promise<void> {
    // Under the workspace's lock: a stop or restart that comes meanwhile waits, and is not undone.
    await this.#c.exclusive(id, () => this.#restoreNow(id)).catch((err: Error) => this.#c.d.log.warn(`restoring services: ${err.message}`));
  }

  async #restoreNow(id: string): Promise<void> {
    const c = this.#c;
    const r = c.d.store.get(id);
    if (!r || r.status !== "running") return;
    const project = c.projectOrNone(r);
    if (!project?.services.length) return;
    try {
      await c.d.ssh.waitReady(r.id, this.#channel.target(r), READY_TIMEOUT_MS);
      const notStarted = await startServices(await this.#channel.serviceShell(r), project.services, { deadline: Date.now() + DEFAULT_BRING_UP_SECONDS * 1000 });
      for (const [name, why] of notStarted) c.d.log.warn(`${r.name}: service ${name} ${why}`);
    } catch (err) {
      c.d.log.warn(`${r.name}: restoring services: ${(err as Error).message}`);
    }
  }
}
