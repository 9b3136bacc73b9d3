// The channel into a running workspace: commands (exec), shells the daemon runs for its own work,
// and TCP tunnels to ports inside. Everything goes over the workspace's pooled SSH connection.
import type { Duplex } from "node:stream";
import { buildCommandLine, plainCommand } from "../../ssh/quote.ts";
import type { ExecExit, ExecStreams as PoolStreams, PtyChannel, PtySize, SshTarget } from "../../ssh/pool.ts";
import { execStdin } from "../exec-stdin.ts";
import { NexusError } from "../../kernel/errors.ts";
import type { ExecInput } from "../inputs.ts";
import { collectOutput, TailBuffer } from "../output-cap.ts";
import { callersAgentSocket } from "../caller.ts";
import type { WorkspaceShell } from "../services.ts";
import type { WorkspaceRecord } from "../../kernel/types.ts";
import type { WorkspaceContext } from "./context.ts";
import { supervisorFiles, WORKSPACE_DIR } from "./spec.ts";
import { WorkspaceSecrets } from "./secrets.ts";
import { requireRunning } from "./state.ts";

/** Output callbacks, cancellation, and stdin (closed at once when absent; see exec-stdin.ts). */
export type ExecStreams = Pick<PoolStreams, "onStdout" | "onStderr" | "signal" | "stdin">;

export class WorkspaceChannel {
  readonly #c: WorkspaceContext;

  constructor(c: WorkspaceContext) {
    this.#c = c;
    c.secrets = new WorkspaceSecrets(c, (r) => this.target(r));
  }

  /** Where and as whom to connect, pinned to the workspace's host key. */
  target(r: WorkspaceRecord): SshTarget {
    const key = this.#c.hostKeys.publicKey(r.id);
    if (!key) {
      throw new NexusError("CONTAINER_ERROR", `Workspace '${r.name}' has no host key on record`, {
        suggestion: `Destroy and re-create it ('nexus destroy ${r.name} --force')`,
      });
    }
    return { host: this.#c.d.docker.publishedHost, port: r.ports.ssh, username: this.#c.d.config.ssh.connection.user, hostPublicKey: key };
  }

  /** A user's command in /workspace (or `cwd`): counts as activity, and the workspace is not idle while it runs. */
  async exec(ref: string, input: ExecInput, streams: ExecStreams = {}): Promise<ExecExit> {
    const c = this.#c;
    const r = c.resolve(ref);
    requireRunning(r, "run commands in it");
    const shape = { cwd: input.cwd ?? WORKSPACE_DIR, ...(input.env ? { env: input.env } : {}) };
    let line = buildCommandLine([input.command, ...input.args], shape);
    // The caller's own agent only, never the engine's or a system socket (caller.ts).
    const agentSocket = c.forwardsAgent(r) && input.agentSocket ? callersAgentSocket(input.agentSocket, c.d.docker.address) : undefined;
    // ~/.ssh/agent.sock follows the newest forwarded agent: editors and long-lived shells keep the path they saw first.
    // The exec agent may run it without a shell (ssh/quote.ts says when); with a forwarded agent it goes over SSH.
    const plain = agentSocket ? undefined : plainCommand([input.command, ...input.args], shape);
    if (agentSocket) line = `{ [ -S "$SSH_AUTH_SOCK" ] && mkdir -p "$HOME/.ssh" && ln -sfn "$SSH_AUTH_SOCK" "$HOME/.ssh/agent.sock"; } 2>/dev/null; ${line}`;
    // Secrets reach the command through its login (after a daemon or engine restart they are written again first).
    await c.secrets.ensure(r);
    c.activity.touch(r.id);
    const timeout = input.timeout ? AbortSignal.timeout(input.timeout * 1000) : undefined;
    const signal = timeout && streams.signal ? AbortSignal.any([timeout, streams.signal]) : (timeout ?? streams.signal);
    c.activity.commandStarted(r.id);
    try {
      // Over the workspace's exec agent when it answers, else an SSH session of its own (ssh/exec-agent.ts).
      const exit = await c.d.ssh.execCommand(r.id, this.target(r), line, { ...streams, ...execStdin(input, streams.stdin), ...(signal ? { signal } : {}), ...(agentSocket ? { agentSocket } : {}) }, plain);
      // Commits the command made reach the host's branch before its answer (git-sync/service.ts; free when no ref moved).
      await c.git.afterExec(r);
      return exit;
    } catch (err) {
      if (timeout?.aborted) {
        throw new NexusError("INVALID_STATE", `The command ran longer than its timeout of ${input.timeout} s and was killed`, {
          suggestion: "Raise the timeout, or run it detached",
          details: { timeoutSeconds: input.timeout },
        });
      }
      throw err;
    } finally {
      c.activity.commandEnded(r.id);
      c.activity.touch(r.id);
    }
  }

  /** Collects an exec's output: for callers that want one JSON answer rather than a stream. */
  async execCollect(ref: string, input: ExecInput, stdin?: ExecStreams["stdin"]): Promise<{ exitCode: number; signal?: string; stdout: string; stderr: string }> {
    // Bounded (output-cap.ts): past the cap the command is stopped and the caller told to stream.
    return collectOutput((streams) => this.exec(ref, input, { ...streams, ...(stdin ? { stdin } : {}) }));
  }

  /** A shell in the workspace over the daemon's pooled connection; it does not count as activity. */
  shell(r: WorkspaceRecord): WorkspaceShell {
    return {
      run: async (script, opts = {}) => {
        await this.#c.secrets.ensure(r);
        // A hook may print without end: only the tail of each stream stays in memory.
        const out = new TailBuffer();
        const err = new TailBuffer();
        const exit = await this.#c.d.ssh.exec(r.id, this.target(r), script, {
          onStdout: opts.onStdout ?? out.push,
          onStderr: err.push,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        return { exitCode: exit.exitCode, stdout: out.toString(), stderr: err.toString() };
      },
    };
  }

  /**
   * A shell for service work, once the container holds this build's supervisor: start and create
   * copy it in; a container that was started by an older daemon gets it here, on first use.
   */
  async serviceShell(r: WorkspaceRecord): Promise<WorkspaceShell> {
    const key = `${r.id}:${r.containerId}`;
    if (!this.#c.supervisorIn.has(key) && r.containerId) {
      await this.#c.engine(r).putFiles(r.containerId, "/", supervisorFiles());
      this.#c.supervisorIn.add(key);
    }
    return this.shell(r);
  }

  /** Runs a read-only shell line in a running workspace without counting it as activity (status probes). */
  async inspect(ref: string, script: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    const r = this.#c.resolve(ref);
    requireRunning(r, "look inside it");
    return this.shell(r).run(script);
  }

  /** A command on a pseudo-terminal over the pooled connection (sessions' interactive attach); not activity by itself. */
  async openTerminal(ref: string, commandLine: string, size: PtySize): Promise<PtyChannel> {
    const r = this.#c.resolve(ref);
    requireRunning(r, "attach to it");
    await this.#c.secrets.ensure(r);
    return this.#c.d.ssh.openPty(r.id, this.target(r), commandLine, size);
  }

  /** A TCP connection to `containerPort` on the workspace's loopback, over its pooled SSH connection. */
  async openTunnel(ref: string, containerPort: number): Promise<Duplex> {
    const c = this.#c;
    const r = c.resolve(ref);
    requireRunning(r, "forward a port into it");
    c.activity.touch(r.id);
    try {
      return await c.d.ssh.forwardOut(r.id, this.target(r), containerPort);
    } catch (err) {
      if (!(err instanceof NexusError && err.code === "INVALID_STATE")) throw err;
      throw new NexusError("INVALID_STATE", `Nothing listens on port ${containerPort} inside workspace '${r.name}'`, {
        suggestion: `Start the server first (e.g. 'nexus exec ${r.name} -- ...'); any address inside works for a forward, 127.0.0.1 included`,
        details: { workspaceName: r.name, containerPort },
      });
    }
  }
}
