// The exec agent (exec-agent-command.py and exec-agent.py, one program): one long-lived process per
// workspace, as its user, that runs the user's commands the way sshd runs a session's, reached over a
// direct-streamlocal channel of the daemon's pooled SSH connection. An SSH session costs sshd a fork,
// a PAM session and its setup per command; a channel to the agent costs a connect() inside sshd, and
// the agent a fork of itself.
//
// When it is used: a command without a pseudo-terminal and without a forwarded agent (those keep
// their SSH session, which gives them), once the agent of this workspace's current login answers.
// Otherwise, and whenever the agent cannot be reached or could not make the process, the command
// goes over an SSH session as before: the agent never decides whether a command runs, only how fast.
//
// Its environment is the login's that started it (PAM's, secrets included): renew() and drop() (new
// secrets, a stopped container) forget it, and the next command starts a new one, which takes over.
//
// Security: its socket is in /run/nexus/secrets/exec-agent, a folder the agent makes the workspace
// user's alone (0700) on that user's tmpfs, and the agent refuses a peer of another uid. Whoever reaches it could already run any command as that user;
// another user of the container cannot reach it, and root there can do anything anyway. Nothing the
// agent sends is trusted (exec-agent-frames.ts checks every frame): a workspace that fakes the agent
// prints what any of its commands could print.
import { createHash, randomUUID } from "node:crypto";
import type { Duplex } from "node:stream";
import AGENT_COMMAND from "./exec-agent-command.py" with { type: "text" };
import AGENT_PROCESS from "./exec-agent.py" with { type: "text" };
import { AgentProtocolError, FrameDecoder, MAX_FRAME, requestFrame, stdinFrames, encodeFrame, type AgentFrame } from "./exec-agent-frames.ts";
import type { ExecExit, ExecStreams, OutputAck, SshTarget } from "./pool.ts";
import type { PlainCommand } from "./quote.ts";
import { drained } from "../kernel/drained.ts";
import { NexusError } from "../kernel/errors.ts";

/**
 * The agent's text, sent on the stdin of the login that starts it (no file in the image): one program
 * in two files, its wire and commands first, then its process, which uses their names.
 */
export const EXEC_AGENT_PY: string = AGENT_COMMAND + AGENT_PROCESS;
/** A build's agent has its own socket: a daemon never talks to another build's agent. */
export const EXEC_AGENT_VERSION = createHash("sha256").update(EXEC_AGENT_PY).digest("hex").slice(0, 12);
/** On the workspace user's tmpfs (gone with the container's stop), in a folder the agent makes 0700. */
export const EXEC_AGENT_DIR = "/run/nexus/secrets/exec-agent";
/** Each start its own socket: an agent started for a login the daemon has since forgotten is never reached. */
export function agentSocketPath(nonce: string): string {
  return `${EXEC_AGENT_DIR}/agent-${EXEC_AGENT_VERSION}-${nonce}.sock`;
}
/** How long the start may take (python's start on a loaded machine); past it the SSH path stays. */
const START_TIMEOUT_MS = 30_000;

/** The shell line of the login that starts the agent: it answers "ready PID" and leaves it running. */
export function agentStartLine(socket: string): string {
  return `exec python3 - start ${socket}`;
}

/** What the agents need of the pool: an SSH session (to start one) and a channel to its socket. */
export interface AgentTransport {
  exec(key: string, target: SshTarget, commandLine: string, streams: ExecStreams): Promise<ExecExit>;
  /** A stream to a unix socket in the workspace; rejects when it cannot be opened (nothing ran). */
  openSocket(key: string, target: SshTarget, path: string): Promise<Duplex>;
}

/**
 * A ready agent may hold a spare: a channel to its socket opened ahead (after its start, and after each
 * command), so the next command writes its request at once instead of waiting for the channel's open
 * round trip. The agent waits on it for a request like on any other connection; it goes with the entry.
 */
type Ready = { state: "ready"; socket: string; spare?: Duplex; opening?: boolean };
type AgentState = { state: "starting" } | Ready | { state: "unavailable"; why: string; retryAt: number };
/** After a failed start, the SSH path alone for this long (an image without python3 is not asked every command). */
const RETRY_START_MS = 60_000;

/** How an exec went over the agent: its exit, or "fallback" when nothing ran and SSH should run it. */
export type AgentOutcome = { exit: ExecExit } | { fallback: string };

export class ExecAgents {
  readonly #t: AgentTransport;
  readonly #signalNumber: (name: string) => number;
  /** Per workspace key: the agent of its current login. A new object per start, so a late answer of a forgotten one is ignored. */
  readonly #agents = new Map<string, AgentState>();
  readonly #starts = new Map<string, Promise<void>>();
  enabled: boolean;

  constructor(t: AgentTransport, signalNumber: (name: string) => number, enabled = true) {
    this.#t = t;
    this.#signalNumber = signalNumber;
    this.enabled = enabled;
  }

  /** The login environment changed or the container stopped: the next command starts a new agent. */
  forget(workspaceKey: string): void {
    const known = this.#agents.get(workspaceKey);
    if (known?.state === "ready") takeSpare(known)?.destroy();
    this.#agents.delete(workspaceKey);
    this.#starts.delete(workspaceKey);
  }

  /** "ready", "starting", "unavailable: why", or "none" (nothing started yet). */
  state(workspaceKey: string): string {
    const a = this.#agents.get(workspaceKey);
    if (!a) return "none";
    return a.state === "unavailable" ? `unavailable: ${a.why}` : a.state;
  }

  /** Starts the agent when none is known (in the background; resolves when it is ready or known unavailable). */
  start(key: string, target: SshTarget): Promise<void> {
    const running = this.#starts.get(key);
    if (running && this.#agents.get(key)?.state === "starting") return running;
    const entry: AgentState = { state: "starting" };
    this.#agents.set(key, entry);
    const stderr: Buffer[] = [];
    const stdout: Buffer[] = [];
    const socket = agentSocketPath(randomUUID().slice(0, 8));
    const p = this.#t
      .exec(key, target, agentStartLine(socket), {
        stdin: new TextEncoder().encode(EXEC_AGENT_PY),
        onStdout: (b) => void stdout.push(b),
        onStderr: (b) => void stderr.push(b),
        signal: AbortSignal.timeout(START_TIMEOUT_MS),
      })
      .then(
        (exit) => {
          const out = Buffer.concat(stdout).toString();
          if (exit.exitCode === 0 && /^ready \d+$/m.test(out)) return { state: "ready", socket } as const;
          const why = Buffer.concat(stderr).toString().trim().split("\n").pop() || `exit ${exit.exitCode}`;
          return { state: "unavailable", why: `the agent did not start: ${why.slice(0, 200)}`, retryAt: Date.now() + RETRY_START_MS } as const;
        },
        (err: unknown) => ({ state: "unavailable", why: `the agent did not start: ${(err as Error)?.message ?? String(err)}`, retryAt: Date.now() + RETRY_START_MS }) as const,
      )
      .then((next: AgentState) => {
        // Forgotten meanwhile (new secrets, a stop): this answer is about an old login.
        if (this.#agents.get(key) !== entry) return;
        this.#agents.set(key, next);
        if (next.state === "ready") this.#openSpare(key, target, next);
      });
    this.#starts.set(key, p);
    return p;
  }

  /**
   * Runs `commandLine` (or its `plain` form, without a shell) over the agent when it is ready (starting it otherwise, for the next command).
   * { fallback } means nothing ran: the caller runs the command over an SSH session.
   */
  async exec(key: string, target: SshTarget, commandLine: string, streams: ExecStreams, plain?: PlainCommand): Promise<AgentOutcome> {
    if (!this.enabled) return { fallback: "the exec agent is off" };
    if (streams.tty) return { fallback: "a pseudo-terminal needs an SSH session" };
    if (streams.agentSocket) return { fallback: "agent forwarding needs an SSH session" };
    const known = this.#agents.get(key);
    if (!known || (known.state === "unavailable" && Date.now() >= known.retryAt)) {
      void this.start(key, target);
      return { fallback: "the exec agent is starting" };
    }
    if (known.state !== "ready") return { fallback: `the exec agent is ${this.state(key)}` };
    let channel = takeSpare(known);
    if (!channel) {
      try {
        channel = await this.#t.openSocket(key, target, known.socket);
      } catch (err) {
        // Gone (the container restarted, the agent died): a new one for the next command.
        if (this.#agents.get(key) === known) this.forget(key);
        return { fallback: `the exec agent did not answer: ${(err as Error).message}` };
      }
    }
    // The next command's channel opens once this one's has closed (off this command's path), unless
    // this one is kept for it.
    const route = routeOf(channel);
    route.reopen = () => this.#openSpare(key, target, known);
    const kept = (ch: Duplex) => {
      route.reopen = undefined;
      if (this.#agents.get(key) === known && !known.spare) setSpare(known, ch);
      else ch.destroy();
    };
    const tag = randomUUID();
    const line = `export NEXUS_EXEC_ID=${tag}; ${commandLine}`;
    return this.#run(channel, { line, tag, ...(plain ? { plain } : {}) }, streams, () => this.#kill(key, target, known.socket, tag), () => {
      if (this.#agents.get(key) === known) this.forget(key);
    }, kept);
  }

  /** Opens the spare channel of a ready agent (one at most); it is dropped when the agent closes it while idle. */
  #openSpare(key: string, target: SshTarget, known: Ready): void {
    if (known.spare || known.opening || this.#agents.get(key) !== known) return;
    known.opening = true;
    this.#t.openSocket(key, target, known.socket).then(
      (channel) => {
        known.opening = false;
        if (known.spare || this.#agents.get(key) !== known) return void channel.destroy();
        setSpare(known, channel);
      },
      // Not reachable now: the next command opens a channel itself, and decides (as without a spare).
      () => void (known.opening = false),
    );
  }

  /** Kills the command tagged `tag` (its process group, and whatever carries the tag) over a second channel. */
  async #kill(key: string, target: SshTarget, socket: string, tag: string): Promise<void> {
    const ch = await this.#t.openSocket(key, target, socket);
    await new Promise<void>((resolve) => {
      const done = () => {
        ch.destroy();
        resolve();
      };
      ch.on("data", done); // "k": killed
      ch.on("close", done);
      ch.on("error", done);
      ch.write(requestFrame("K", { tag }));
    });
  }

  /**
   * One request on `channel`. With stdin sent whole the agent is asked to keep the channel: when its
   * exit frame says it did, and nothing else is pending on it, the channel goes to `kept` (the next
   * command's, with no open and close in between) instead of being closed.
   */
  #run(channel: Duplex, request: { line: string; tag: string; plain?: PlainCommand }, streams: ExecStreams, kill: () => Promise<void>, broken: () => void, kept: (channel: Duplex) => void): Promise<AgentOutcome> {
    return new Promise<AgentOutcome>((resolve, reject) => {
      const decoder = new FrameDecoder(this.#signalNumber);
      let accepted = false;
      let started = false;
      let settled = false;
      let exit: ExecExit | undefined;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        streams.signal?.removeEventListener("abort", onAbort);
        fn();
      };
      const onAbort = () => {
        // The command may have started even before "s" arrived: kill by its tag in any case.
        void kill().catch(() => {});
        channel.destroy();
        finish(() => reject(streams.signal!.reason));
      };
      if (streams.signal?.aborted) return onAbort();
      streams.signal?.addEventListener("abort", onAbort, { once: true });
      // Back-pressure (pool.ts OutputAck): while a reader is behind, the channel is not read, so its
      // window closes, sshd stops reading the agent's socket, the agent its pipes, and the command blocks.
      let behind = 0;
      const resume = () => {
        if (--behind === 0 && !settled) channel.resume();
      };
      const deliver = (fn: ((chunk: Buffer) => OutputAck) | undefined, data: Buffer) => {
        if (!fn || streams.signal?.aborted) return;
        const ack = fn(data);
        if (typeof ack !== "object" || ack === null || typeof (ack as { then?: unknown }).then !== "function") return;
        if (behind++ === 0) channel.pause();
        (ack as PromiseLike<unknown>).then(resume, resume);
      };
      const onFrame = (f: AgentFrame) => {
        switch (f.kind) {
          case "accepted":
            if (accepted || started) throw new AgentProtocolError("a second accept frame");
            accepted = true;
            return;
          case "started":
            if (started) throw new AgentProtocolError("a second start frame");
            started = true;
            // Streamed stdin only once the command runs: before that, a fallback to SSH must find it untouched.
            if (!sentAhead) void feed(channel, streams.stdin, () => settled);
            return;
          case "refused":
            // No process could be made: the SSH path tries again and answers RESOURCE_EXHAUSTED if it must.
            if (!started) finish(() => resolve({ fallback: `the agent could not start the command: ${f.message}` }));
            return;
          case "stdout":
            if (started) deliver(streams.onStdout, f.data);
            return;
          case "stderr":
            if (started) deliver(streams.onStderr, f.data);
            return;
          case "exit":
            exit = f.exit;
            keep = keepAsked && f.kept;
            finish(() => resolve({ exit: f.exit }));
            return;
          default:
            throw new AgentProtocolError(`an unexpected frame ${f.kind}`);
        }
      };
      const onData = (chunk: Buffer) => {
        if (settled) return;
        try {
          const frames = decoder.push(chunk);
          for (let i = 0; i < frames.length; i++) {
            onFrame(frames[i]!);
            if (exit) {
              // Nothing follows the exit: the channel is kept for the next request when the agent said
              // so and nothing is left on it (no frame after the exit, no reader behind), else closed
              // (an SSH close alone, no end of file first), after the answer has gone out.
              if (keep && i === frames.length - 1 && decoder.partial === 0 && behind === 0) {
                detach();
                kept(channel);
              } else setImmediate(() => channel.destroy());
              return;
            }
          }
        } catch (err) {
          void kill().catch(() => {});
          channel.destroy();
          broken();
          finish(() => reject(lost(`The workspace's exec agent broke the protocol: ${(err as Error).message}`)));
        }
      };
      const closed = () => {
        if (settled || exit) return;
        broken();
        if (!accepted && !started) {
          // The agent never took the request, so nothing ran: SSH runs it.
          finish(() => resolve({ fallback: "the exec agent closed the connection before the command started" }));
        } else if (!started) {
          // Taken, then gone before saying whether it started: running it again could run it twice.
          void kill().catch(() => {});
          finish(() => reject(lost("The workspace's exec agent went away after taking the command; it may or may not have run, and it was not run again")));
        } else finish(() => reject(lost("The connection to the workspace's exec agent closed before the command finished")));
      };
      const route = routeOf(channel);
      route.use = { data: onData, gone: closed };
      readFrom(channel, route);
      const detach = () => {
        route.use = undefined;
      };
      // Stdin given whole (or none) goes with the request: a fallback to SSH still has it, and the agent
      // gets its end without waiting for a round trip (one write, so one SSH packet for a small one).
      const stdin = streams.stdin;
      const sentAhead = stdin === undefined || stdin instanceof Uint8Array;
      // The whole request in one write (its stdin's end included): nothing more is sent on the channel
      // for this command, so it may carry the next one.
      const keepAsked = sentAhead && (stdin === undefined || stdin.length <= MAX_FRAME);
      let keep = false;
      // Streamed stdin waits for "s": the agent sends it at once then, else with the first output or the exit.
      if (!sentAhead) channel.write(requestFrame("R", { ...request, startNow: true }));
      else if (keepAsked) channel.write(Buffer.concat([requestFrame("R", { ...request, keep: true }), ...(stdin?.length ? stdinFrames(stdin) : []), encodeFrame("E")]));
      else {
        channel.write(requestFrame("R", request));
        void feed(channel, stdin, () => settled);
      }
    });
  }
}

/** Stdin as frames (waiting while the channel's window is full), then its end. */
async function feed(channel: Duplex, stdin: ExecStreams["stdin"], settled: () => boolean): Promise<void> {
  const write = async (buf: Buffer) => {
    if (!channel.write(buf)) await drained(channel);
  };
  try {
    if (stdin instanceof Uint8Array) {
      for (const f of stdinFrames(stdin)) await write(f);
    } else if (stdin) {
      for await (const chunk of stdin) {
        if (settled() || channel.destroyed) return;
        // Without a pseudo-terminal a size has no meaning (the SSH path ignores it too).
        if (chunk instanceof Uint8Array && chunk.length > 0) for (const f of stdinFrames(chunk)) await write(f);
      }
    }
  } catch {
    // The caller's input failed (its client went away): the command sees end of file.
  }
  if (!settled() && !channel.destroyed) channel.write(encodeFrame("E"));
}

/**
 * Where a channel's events go now. A channel carries command after command (kept) and waits as the
 * spare between them: its listeners are put on once (routeOf, readFrom) and each use sets itself
 * here, rather than each command and each wait putting on and taking off listeners of its own (in
 * the daemon's interpreter taking one off cost 5-15 us: some 90 us of each exec's path, about half
 * before its request went out and half after its exit came in).
 */
interface Route {
  /** The command's (#run) or the spare's; none between uses, and for a channel taken to be closed. */
  use?: { data?: (chunk: Buffer) => void; gone: () => void };
  /** While a command's channel is not kept: what its close does first (open the next spare). */
  reopen?: () => void;
  /** "data" is listened to from the channel's first command on (a spare opened ahead is not read before, as a stream without a reader). */
  reading: boolean;
}

const routes = new WeakMap<Duplex, Route>();

/** The route of `channel`, made with its listeners on first use. */
function routeOf(channel: Duplex): Route {
  let route = routes.get(channel);
  if (route) return route;
  const r: Route = { reading: false };
  // The end, the close and an error each tell the use (a command's `closed`, the spare's `gone`).
  channel.on("close", () => {
    const use = r.use;
    r.reopen?.();
    use?.gone();
  });
  channel.on("end", () => r.use?.gone());
  channel.on("error", () => r.use?.gone());
  routes.set(channel, (route = r));
  return route;
}

/** From now on the channel's data goes to its use (none while it is the spare: the agent sends nothing on a channel that waits). */
function readFrom(channel: Duplex, route: Route): void {
  if (route.reading) return;
  route.reading = true;
  channel.on("data", (chunk: Buffer) => route.use?.data?.(chunk));
}

/** Makes `channel` the agent's spare; it is dropped when it closes while idle (the agent was replaced, the connection went). */
function setSpare(known: Ready, channel: Duplex): void {
  // Once it has dropped the channel, a later event finds it no longer the spare and does nothing.
  routeOf(channel).use = {
    gone: () => {
      if (known.spare !== channel) return;
      known.spare = undefined;
      channel.destroy();
    },
  };
  known.spare = channel;
}

/** The agent's spare channel, taken (for a command, or to close it); none when it has closed meanwhile. */
function takeSpare(known: Ready): Duplex | undefined {
  const channel = known.spare;
  known.spare = undefined;
  if (!channel) return undefined;
  const route = routes.get(channel);
  if (route) route.use = undefined;
  return channel.destroyed || channel.readableEnded || channel.writableEnded ? (channel.destroy(), undefined) : channel;
}

function lost(message: string): NexusError {
  return new NexusError("CONNECTION_LOST", message, { suggestion: "Check that the workspace is running ('nexus status <workspace>'), then try again" });
}
