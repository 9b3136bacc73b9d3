// The exec agent's wire and its decisions (pure), then the agent itself (exec-agent-command.py and
// exec-agent.py, the text the workspaces get) run here with the host's python3 on a socket in a temp folder, spoken to by
// ExecAgents the way the daemon speaks to it, only over a local socket instead of an SSH channel.
import { afterAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { AgentProtocolError, encodeFrame, FrameDecoder, MAX_FRAME, requestFrame, stdinFrames } from "../../src/ssh/exec-agent-frames.ts";
import { agentSocketPath, EXEC_AGENT_PY, ExecAgents, type AgentTransport } from "../../src/ssh/exec-agent.ts";
import { signalNumber, type ExecExit, type ExecStreams } from "../../src/ssh/pool.ts";
import { buildCommandLine, plainCommand } from "../../src/ssh/quote.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const LONG = 120_000;
const frame = (type: string, payload: Buffer | string = "") => {
  const p = Buffer.from(payload);
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeUInt32BE(p.length, 1);
  return Buffer.concat([head, p]);
};

describe("frames", () => {
  test("cut at any byte, they come out whole and checked", () => {
    const bytes = Buffer.concat([frame("a"), frame("s", '{"pid":7}'), frame("o", "out"), frame("e", "err"), frame("x", '{"code":3}'), frame("x", '{"signal":"TERM"}'), frame("x", '{"code":0,"keep":true}'), frame("k")]);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new FrameDecoder(signalNumber);
      const frames = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      expect(frames).toEqual([
        { kind: "accepted" },
        { kind: "started", pid: 7 },
        { kind: "stdout", data: Buffer.from("out") },
        { kind: "stderr", data: Buffer.from("err") },
        { kind: "exit", exit: { exitCode: 3 }, kept: false },
        { kind: "exit", exit: { exitCode: 143, signal: "TERM" }, kept: false },
        { kind: "exit", exit: { exitCode: 0 }, kept: true },
        { kind: "killed" },
      ]);
      expect(d.partial).toBe(0);
    }
  });

  test("whatever comes from the workspace out of shape is a protocol error, never a guess", () => {
    const bad = (b: Buffer) => () => new FrameDecoder(signalNumber).push(b);
    const huge = Buffer.alloc(5);
    huge.write("o", 0, "latin1");
    huge.writeUInt32BE(MAX_FRAME + 1, 1);
    expect(bad(huge)).toThrow(AgentProtocolError);
    expect(bad(frame("z"))).toThrow(AgentProtocolError);
    expect(bad(frame("x", '{"code":256}'))).toThrow(AgentProtocolError);
    expect(bad(frame("x", '{"code":-1}'))).toThrow(AgentProtocolError);
    expect(bad(frame("x", '{"signal":"$(reboot)"}'))).toThrow(AgentProtocolError);
    expect(bad(frame("x", "[]"))).toThrow(AgentProtocolError);
    expect(bad(frame("s", '{"pid":"1"}'))).toThrow(AgentProtocolError);
    expect(bad(frame("s", "not json"))).toThrow(AgentProtocolError);
  });

  test("requests and stdin are framed the same way, stdin cut at the largest frame", () => {
    expect(encodeFrame("E")).toEqual(frame("E"));
    expect(requestFrame("K", { tag: "t" })).toEqual(frame("K", '{"tag":"t"}'));
    const big = new Uint8Array(MAX_FRAME * 2 + 3).fill(7);
    const frames = stdinFrames(big);
    expect(frames.map((f) => f.length - 5)).toEqual([MAX_FRAME, MAX_FRAME, 3]);
    expect(frames.every((f) => f[0] === "I".charCodeAt(0))).toBe(true);
  });
});

describe("plainCommand: when the agent may skip the shell", () => {
  test("argv, an absolute normalized folder and shell-named variables", () => {
    expect(plainCommand(["true"], { cwd: "/workspace" })).toEqual({ argv: ["true"], cwd: "/workspace", env: {} });
    expect(plainCommand(["sh", "-c", "echo $A; a=b"], { cwd: "/", env: { A: "1 2" } })).toEqual({ argv: ["sh", "-c", "echo $A; a=b"], cwd: "/", env: { A: "1 2" } });
  });

  test("anything the line's cd or env would read differently stays with the shell", () => {
    for (const cwd of ["rel", "/a/", "/a/../b", "/a/./b", "//a", ""]) expect(plainCommand(["true"], { cwd })).toBeUndefined();
    expect(plainCommand(["true"], { cwd: "/", env: { "A-B": "1" } })).toBeUndefined();
    expect(plainCommand(["a=b"], { cwd: "/", env: { A: "1" } })).toBeUndefined();
    expect(plainCommand(["-i"], { cwd: "/", env: { A: "1" } })).toBeUndefined();
    expect(plainCommand(["a=b"], { cwd: "/" })).toEqual({ argv: ["a=b"], cwd: "/", env: {} }); // without env, `exec a=b` runs a=b
    expect(plainCommand([""], { cwd: "/" })).toBeUndefined();
    expect(plainCommand(["echo", "a\0b"], { cwd: "/" })).toBeUndefined();
  });
});

// The real agent, on this machine.
const hasPython = spawnSync("python3", ["--version"]).status === 0;
const dir = tempDir("exec-agent");
const sockets = join(dir.path, "run");
mkdirSync(sockets, { mode: 0o700 });
chmodSync(sockets, 0o700);
const agentPids: number[] = [];
/** Exited (a zombie waiting for a parent that may never reap it counts as gone). */
const gone = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(")").pop()!.trim()[0] === "Z";
  } catch {
    return true;
  }
};

afterAll(async () => {
  for (const pid of agentPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await dir[Symbol.asyncDispose]();
});

/** Runs a line as the login would (bash -c, stdin given): what the pool's exec does over SSH. */
function localExec(line: string, streams: ExecStreams, env: Record<string, string> = {}): Promise<ExecExit> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", line], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NEXUS_TEST_LOGIN: "yes", ...env } });
    child.stdout.on("data", (b: Buffer) => streams.onStdout?.(b));
    child.stderr.on("data", (b: Buffer) => streams.onStderr?.(b));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve(code === null ? { exitCode: 128 + signalNumber(signal ?? undefined), ...(signal ? { signal: signal.replace(/^SIG/, "") } : {}) } : { exitCode: code }));
    if (streams.stdin instanceof Uint8Array) child.stdin.end(streams.stdin);
    else child.stdin.end();
  });
}

/** The daemon's side over local sockets: the socket's folder stands for /run/nexus/secrets. */
function localTransport(opened: string[] = [], connected: Socket[] = [], loginEnv: Record<string, string> = {}): AgentTransport {
  return {
    exec: (_key, _target, line, streams) => localExec(line.replaceAll("/run/nexus/secrets", sockets), streams, loginEnv),
    openSocket: (_key, _target, path) =>
      new Promise((resolve, reject) => {
        const local = path.replace("/run/nexus/secrets", sockets);
        opened.push(local);
        const s: Socket = connect(local);
        s.once("connect", () => {
          connected.push(s);
          resolve(s);
        });
        s.once("error", reject);
      }),
  };
}

const target = { host: "127.0.0.1", port: 22, username: "nexus", hostPublicKey: "" };

async function readyAgents(opened: string[] = [], connected: Socket[] = [], loginEnv: Record<string, string> = {}): Promise<ExecAgents> {
  const agents = new ExecAgents(localTransport(opened, connected, loginEnv), signalNumber);
  await agents.start("ws", target);
  expect(agents.state("ws")).toBe("ready");
  const pid = Number(readFileSync(join(sockets, "exec-agent", "agent.pid"), "utf8").split(" ")[0]);
  agentPids.push(pid);
  return agents;
}

async function run(agents: ExecAgents, argv: string[], opts: { cwd?: string; env?: Record<string, string>; plain?: boolean; stdin?: ExecStreams["stdin"]; signal?: AbortSignal } = {}) {
  const cwd = opts.cwd ?? dir.path;
  const line = buildCommandLine(argv, { cwd, ...(opts.env ? { env: opts.env } : {}) });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const plain = opts.plain === false ? undefined : plainCommand(argv, { cwd, ...(opts.env ? { env: opts.env } : {}) });
  const outcome = await agents.exec("ws", target, line, { onStdout: (b) => out.push(b), onStderr: (b) => err.push(b), ...(opts.stdin ? { stdin: opts.stdin } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }, plain);
  if (!("exit" in outcome)) throw new Error(`fell back: ${outcome.fallback}`);
  return { ...outcome.exit, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

describe.skipIf(!hasPython)("the agent (host python3)", () => {
  test("the embedded text is exec-agent-command.py then exec-agent.py, as they stand", () => {
    const part = (name: string) => readFileSync(join(import.meta.dirname, "../../src/ssh", name), "utf8");
    expect(EXEC_AGENT_PY).toBe(part("exec-agent-command.py") + part("exec-agent.py"));
    expect(agentSocketPath("ab12cd34")).toMatch(/^\/run\/nexus\/secrets\/exec-agent\/agent-[0-9a-f]{12}-ab12cd34\.sock$/);
  });

  test("before it answers, a command is left to SSH (and the agent starts); a folder others may enter is refused", async () => {
    const agents = new ExecAgents(localTransport(), signalNumber);
    expect(await agents.exec("ws", target, "true", {})).toEqual({ fallback: "the exec agent is starting" });
    expect(await agents.exec("ws", target, "true", { tty: { cols: 80, rows: 24 } })).toEqual({ fallback: "a pseudo-terminal needs an SSH session" });
    // Others may write where its folder goes (they could have made it), or its folder is open to others: refused.
    for (const [path, mode] of [[sockets, 0o777], [join(sockets, "exec-agent"), 0o755]] as const) {
      mkdirSync(join(sockets, "exec-agent"), { recursive: true });
      chmodSync(path, mode);
      try {
        const other = new ExecAgents(localTransport(), signalNumber);
        await other.start("ws", target);
        expect(other.state("ws")).toContain("unavailable: the agent did not start: nexus exec agent:");
        expect(await other.exec("ws", target, "true", {})).toEqual({ fallback: expect.stringContaining("unavailable") });
      } finally {
        chmodSync(path, 0o700);
      }
    }
    await until("the first agent's start to end", () => agents.state("ws"), (v) => v !== "starting", LONG);
    const off = new ExecAgents(localTransport(), signalNumber, false);
    expect(await off.exec("ws", target, "true", {})).toEqual({ fallback: "the exec agent is off" });
  }, LONG);

  test("output, exit codes and stdin, with and without the shell", async () => {
    const agents = await readyAgents();
    for (const plain of [true, false]) {
      const r = await run(agents, ["sh", "-c", "echo out; echo err >&2; exit 3"], { plain });
      expect(r).toEqual({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
      const cat = await run(agents, ["cat"], { plain, stdin: new TextEncoder().encode("hello\n") });
      expect(cat).toEqual({ exitCode: 0, stdout: "hello\n", stderr: "" });
      const streamed = async function* () {
        yield new TextEncoder().encode("a");
        yield { resize: { cols: 1, rows: 1 } };
        yield new TextEncoder().encode("b");
      };
      expect((await run(agents, ["cat"], { plain, stdin: streamed() })).stdout).toBe("ab");
      // No stdin: closed at once, so cat ends.
      expect((await run(agents, ["cat"], { plain })).exitCode).toBe(0);
      const sig = await run(agents, ["sh", "-c", "kill -TERM $$"], { plain });
      expect(sig).toMatchObject({ exitCode: 143, signal: "TERM" });
    }
  }, LONG);

  test("the environment is the login's plus the line's, the same with and without the shell", async () => {
    const agents = await readyAgents();
    const show = ["sh", "-c", 'echo "$NEXUS_TEST_LOGIN|$A|$PWD|$SHLVL|$NEXUS_EXEC_ID" && pwd'];
    const viaShell = await run(agents, show, { plain: false, env: { A: "x y" } });
    const plain = await run(agents, show, { env: { A: "x y" } });
    const [login, a, pwd, shlvl, tag] = plain.stdout.split("\n")[0]!.split("|");
    expect([login, a, pwd, shlvl]).toEqual(["yes", "x y", dir.path, "0"]);
    expect(tag).toMatch(/^[0-9a-f-]{36}$/);
    expect(viaShell.stdout.replace(/\|[0-9a-f-]{36}\n/, "|T\n")).toBe(plain.stdout.replace(/\|[0-9a-f-]{36}\n/, "|T\n"));
  }, LONG);

  test("a plain command that cannot start fails in the shell's words, as over SSH", async () => {
    const agents = await readyAgents();
    for (const [argv, cwd, code, words] of [
      [["no-such-program-x"], dir.path, 127, "exec: no-such-program-x: not found"],
      [["true"], join(dir.path, "missing"), 1, "cd: "],
      [[join(dir.path, "run")], dir.path, 126, "Is a directory"],
    ] as const) {
      const plain = await run(agents, [...argv], { cwd });
      const shell = await run(agents, [...argv], { cwd, plain: false });
      expect(plain.exitCode).toBe(code);
      expect(plain.stderr).toContain(words);
      expect(plain).toEqual(shell);
    }
  }, LONG);

  test("the answer waits for the output to end, as sshd's does (a child that holds stdout)", async () => {
    const agents = await readyAgents();
    const r = await run(agents, ["sh", "-c", "(sleep 0.3; echo late) & echo now"]);
    expect(r.stdout).toBe("now\nlate\n");
  }, LONG);

  test("a reader that is behind holds the command back (back-pressure), then gets every byte", async () => {
    const agents = await readyAgents();
    const total = 40_000_000;
    let received = 0;
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    let holding = true;
    const line = buildCommandLine(["head", "-c", String(total), "/dev/zero"], { cwd: dir.path });
    const p = agents.exec("ws", target, line, {
      onStdout: (b) => {
        received += b.length;
        return holding ? held : undefined;
      },
    }, plainCommand(["head", "-c", String(total), "/dev/zero"], { cwd: dir.path }));
    await until("the first output", () => received, (n) => n > 0, LONG);
    // Held: what arrives stops growing within the socket's and the pipe's buffers, far from the whole.
    let last = -1;
    const settledAt = await until("the output to stop growing", () => received, (n) => n === last || ((last = n), false), { timeoutMs: LONG, intervalMs: 250 });
    expect(settledAt).toBeLessThan(total / 4);
    holding = false;
    release();
    expect(await p).toEqual({ exit: { exitCode: 0 } });
    expect(received).toBe(total);
  }, LONG);

  test("an abort kills the command's process group and whatever carries its tag", async () => {
    const agents = await readyAgents();
    const marker = join(dir.path, `escaped-${process.pid}`);
    const ac = new AbortController();
    // One child stays in the group, one leaves it (setsid): both die.
    const p = run(agents, ["sh", "-c", `sleep 1000 & setsid sh -c 'echo $$ > ${marker}; exec sleep 1000' & wait`], { signal: ac.signal });
    await until("the escaped child's pid", () => existsSync(marker) && readFileSync(marker, "utf8").trim() !== "", Boolean, LONG);
    const escaped = Number(readFileSync(marker, "utf8"));
    ac.abort(new Error("stop"));
    await expect(p).rejects.toThrow("stop");
    await until("the escaped child to die", () => gone(escaped), Boolean, LONG);
  }, LONG);

  test("a new agent takes over: the old one finishes its command and its socket goes", async () => {
    const opened: string[] = [];
    const first = await readyAgents(opened);
    const p = run(first, ["sh", "-c", "sleep 0.5; echo done"]);
    await until("the command's connection", () => opened.length, Boolean, LONG);
    const oldSocket = opened[0]!;
    const second = await readyAgents();
    expect((await p).stdout).toBe("done\n");
    await until("the old socket to go", () => !existsSync(oldSocket), Boolean, LONG);
    expect((await run(second, ["echo", "hi"])).stdout).toBe("hi\n");
    // The first one's agent is gone: its next command is left to SSH, and it starts a new one.
    expect(await first.exec("ws", target, "true", {})).toEqual({ fallback: expect.stringContaining("did not answer") });
  }, LONG);
});

describe.skipIf(!hasPython)("the channel opened ahead (host python3)", () => {
  test("a command writes its request on a channel opened before it came; that channel, kept by the agent, carries the next one", async () => {
    const opened: string[] = [];
    const connected: Socket[] = [];
    const agents = await readyAgents(opened, connected);
    await until("the channel opened ahead", () => connected.length, (n) => n === 1, LONG);
    const listeners = () => ["data", "end", "close", "error"].map((e) => connected[0]!.listenerCount(e)).join(",");
    let waitingWith: string | undefined;
    for (let i = 0; i < 3; i++) {
      // Stdin whole or none: every command on the one channel opened ahead, none opened for it.
      const r = await run(agents, ["sh", "-c", "cat; echo $0", String(i)], i === 1 ? { stdin: new TextEncoder().encode("in\n") } : {});
      expect(r.stdout).toBe(i === 1 ? "in\n1\n" : `${i}\n`);
      expect(opened.length).toBe(1);
      expect(connected[0]!.destroyed).toBe(false);
      // Waiting again, it has the listeners it had after the first command: none gathered per command.
      waitingWith ??= listeners();
      expect(listeners()).toBe(waitingWith);
    }
    // Streamed stdin: the channel is not kept (its stdin's end may never be sent); the next opens after it.
    const streamed = async function* () {
      yield new TextEncoder().encode("s");
    };
    expect((await run(agents, ["cat"], { stdin: streamed() })).stdout).toBe("s");
    await until("the next channel opened ahead", () => connected.length, (n) => n === 2, LONG);
    expect(connected[0]!.destroyed).toBe(true);
    expect((await run(agents, ["echo", "after"])).stdout).toBe("after\n");
    expect(opened.length).toBe(2);
    // Forgotten (new secrets, a stop): the one waiting is closed with it.
    const waiting = connected.at(-1)!;
    agents.forget("ws");
    expect(waiting.destroyed).toBe(true);
  }, LONG);

  test("a replaced agent closes the channels that wait for a request, then exits; the old daemon's next command does not reach it", async () => {
    const connected: Socket[] = [];
    const first = await readyAgents([], connected);
    await until("the channel opened ahead", () => connected.length, (n) => n === 1, LONG);
    // It has carried a command and waits for the next (kept), as a channel opened ahead does.
    expect((await run(first, ["echo", "one"])).stdout).toBe("one\n");
    const oldPid = Number(readFileSync(join(sockets, "exec-agent", "agent.pid"), "utf8").split(" ")[0]);
    const second = await readyAgents();
    await until("the waiting channel to be closed", () => connected[0]!.readableEnded || connected[0]!.destroyed, Boolean, LONG);
    await until("the old agent to exit", () => gone(oldPid), Boolean, LONG);
    expect(await first.exec("ws", target, "true", {})).toEqual({ fallback: expect.stringContaining("did not answer") });
    expect((await run(second, ["echo", "hi"])).stdout).toBe("hi\n");
  }, LONG);
});

describe.skipIf(!hasPython)("the start frame (host python3, its wire)", () => {
  /** Sends a request (and the end of stdin) on a new connection; each read's frame types and when it came. */
  async function wire(socket: string, request: object): Promise<{ types: string; at: number }[]> {
    const reads: { types: string; at: number }[] = [];
    const s = connect(socket);
    await new Promise<void>((resolve, reject) => s.once("connect", resolve).once("error", reject));
    const start = performance.now();
    const decoder = new FrameDecoder(signalNumber);
    const kinds: Record<string, string> = { accepted: "a", started: "s", stdout: "o", stderr: "e", exit: "x" };
    await new Promise<void>((resolve) => {
      s.on("data", (b: Buffer) => reads.push({ types: decoder.push(b).map((f) => kinds[f.kind] ?? "?").join(""), at: performance.now() - start }));
      s.once("close", () => resolve());
      s.write(Buffer.concat([frame("R", JSON.stringify(request)), frame("E")]));
    });
    return reads.filter((r) => r.types !== "");
  }

  const plain = (argv: string[]) => ({ line: "exit 99", tag: "t", plain: { argv, cwd: dir.path, env: {} } });

  test("a command's start goes out with its first output, or with its exit: one message", async () => {
    const opened: string[] = [];
    // Held long enough that even a loaded machine's shell prints first (5 ms otherwise).
    await readyAgents(opened, [], { NEXUS_EXEC_AGENT_HOLD_MS: "20000" });
    await until("the agent's socket", () => opened.length, Boolean, LONG);
    const withStart = (reads: { types: string; at: number }[]) => reads.find((r) => r.types.includes("s"))!;
    // Output 0.3 s after the start: "s" waited for it.
    const talks = await wire(opened[0]!, plain(["sh", "-c", "sleep 0.3; echo hi"]));
    expect(talks.map((r) => r.types).join("")).toBe("asox");
    expect(withStart(talks).types).toContain("so");
    expect(withStart(await wire(opened[0]!, plain(["true"]))).types).toContain("sx");
    // Unless the daemon waits for it (streamed stdin): then at once.
    const now = await wire(opened[0]!, { ...plain(["sh", "-c", "sleep 0.3; echo hi"]), startNow: true });
    expect(now.map((r) => r.types).join("")).toBe("asox");
    expect(withStart(now).types).not.toContain("o");
  }, LONG);

  test("a command whose connection is cut leaves nothing of it open in the agent (its pipes, its pidfd)", async () => {
    const opened: string[] = [];
    await readyAgents(opened);
    await until("the agent's socket", () => opened.length, Boolean, LONG);
    const agentPid = agentPids.at(-1)!;
    /** The agent's descriptors of one kind: "pipe:" or "anon_inode:[pidfd]". */
    const held = (kind: string) => readdirSync(`/proc/${agentPid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${agentPid}/fd/${fd}`).startsWith(kind);
      } catch {
        return false; // closed meanwhile
      }
    }).length;
    // What it holds at rest (a runtime may hand the agent's start a descriptor of its own).
    const pipes = held("pipe:");
    const pidfds = held("anon_inode:[pidfd]");
    const s = connect(opened[0]!);
    await new Promise<void>((resolve, reject) => s.once("connect", resolve).once("error", reject));
    const decoder = new FrameDecoder(signalNumber);
    let pid = 0;
    s.on("data", (b: Buffer) => {
      for (const f of decoder.push(b)) if (f.kind === "started") pid = f.pid;
    });
    s.write(frame("R", JSON.stringify({ ...plain(["sleep", "1000"]), startNow: true })));
    await until("the command to start", () => pid, Boolean, LONG);
    expect(held("pipe:")).toBe(pipes + 3);
    // Cut while it runs: the agent closes its pipes (the command keeps running, as under sshd), then it is killed.
    s.destroy();
    await until("the agent to close the command's pipes", () => held("pipe:"), (n) => n === pipes, LONG);
    process.kill(pid, "SIGKILL");
    await until("the agent to let go of the command's pidfd", () => held("anon_inode:[pidfd]"), (n) => n === pidfds, 20_000);
  }, LONG);

  test("a quiet command's start goes out within a few ms, not at its exit", async () => {
    const opened: string[] = [];
    await readyAgents(opened);
    await until("the agent's socket", () => opened.length, Boolean, LONG);
    const quiet = await wire(opened[0]!, plain(["sleep", "0.4"]));
    expect(quiet.map((r) => r.types).join("")).toBe("asx");
    // "s" did not wait for the exit (0.4 s later).
    const s = quiet.find((r) => r.types.includes("s"))!;
    expect(quiet.at(-1)!.at - s.at).toBeGreaterThan(300);
  }, LONG);
});

describe.skipIf(!hasPython)("stdin and output each wait for their own reader (host python3, its wire)", () => {
  /** Waits until the process writes nothing more (nobody reads its output); the bytes it wrote. */
  async function writesStandStill(pid: number): Promise<number> {
    let last = -1;
    await until(
      "the command's writes to stand still (nobody reads its output)",
      () => {
        const now = Number(/^wchar:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1]);
        const still = now === last;
        last = now;
        return { now, still };
      },
      (w) => w.still,
      { timeoutMs: LONG, intervalMs: 500 },
    );
    return last;
  }

  /**
   * A connection to a ready agent that stops reading once the command started (its output then waits
   * in the agent and behind it; s.resume() reads on): what it has seen, exits as "exit N[ kept]".
   */
  async function heldReader() {
    const opened: string[] = [];
    await readyAgents(opened);
    await until("the agent's socket", () => opened.length, Boolean, LONG);
    const s = connect(opened[0]!);
    await new Promise<void>((resolve, reject) => s.once("connect", resolve).once("error", reject));
    const decoder = new FrameDecoder(signalNumber);
    const seen = { pid: 0, out: 0, frames: [] as string[] };
    s.on("data", (b: Buffer) => {
      for (const f of decoder.push(b)) {
        if (f.kind === "started" && !seen.pid) {
          seen.pid = f.pid;
          s.pause();
        }
        if (f.kind === "stdout") seen.out += f.data.length;
        else seen.frames.push(f.kind === "exit" ? `exit ${f.exit.exitCode}${f.kept ? " kept" : ""}` : f.kind);
      }
    });
    return { s, seen };
  }

  test("while nobody reads the output and the command waits to write more, its stdin still comes; then all the output, then the exit", async () => {
    const got = join(dir.path, "stdin-got");
    const size = 50_000_000; // far more than the socket and the agent's queue hold
    const { s, seen } = await heldReader(); // the output is read only once the command got its stdin
    // head is the command itself (its pid the started one); cat, in the background, takes stdin.
    const line = `exec 3<&0; cat <&3 > ${got} & exec head -c ${size} /dev/zero`;
    s.write(frame("R", JSON.stringify({ line: "exit 99", tag: "t", plain: { argv: ["sh", "-c", line], cwd: dir.path, env: {} }, startNow: true })));
    await until("the command to start", () => seen.pid, Boolean, LONG);
    expect(await writesStandStill(seen.pid)).toBeLessThan(size);
    s.write(frame("I", "stdin while the output waits\n"));
    await until("the command to get its stdin", () => (existsSync(got) ? readFileSync(got, "utf8") : ""), (t) => t === "stdin while the output waits\n", { timeoutMs: 20_000, intervalMs: 100 });
    s.write(frame("E"));
    const closed = new Promise<void>((resolve) => s.once("close", () => resolve()));
    s.resume();
    await closed;
    expect({ out: seen.out, frames: seen.frames }).toEqual({ out: size, frames: ["accepted", "started", "exit 0"] });
  }, LONG);

  test("a kept connection: the exit (keep) comes after all the output the agent held, and the connection carries the next request", async () => {
    const size = 20_000_000;
    const { s, seen } = await heldReader();
    const request = (argv: string[]) => Buffer.concat([frame("R", JSON.stringify({ line: "exit 99", tag: "t", plain: { argv, cwd: dir.path, env: {} }, keep: true, startNow: true })), frame("E")]);
    s.write(request(["head", "-c", String(size), "/dev/zero"]));
    await until("the command to start", () => seen.pid, Boolean, LONG);
    // Output held in the agent's queue and behind it: the command waits to write.
    expect(await writesStandStill(seen.pid)).toBeLessThan(size);
    s.resume();
    await until("the exit", () => seen.frames.length, (n) => n === 3, { timeoutMs: LONG, intervalMs: 50 });
    expect({ out: seen.out, frames: seen.frames }).toEqual({ out: size, frames: ["accepted", "started", "exit 0 kept"] });
    seen.out = 0;
    s.write(request(["sh", "-c", "echo after"]));
    await until("the next exit", () => seen.frames.length, (n) => n === 6, { timeoutMs: LONG, intervalMs: 50 });
    expect({ out: seen.out, frames: seen.frames.slice(3) }).toEqual({ out: 6, frames: ["accepted", "started", "exit 0 kept"] });
    s.destroy();
  }, LONG);
});

describe("an agent that goes away part way (a stand-in agent on a local socket)", () => {
  /** An agent that answers its start, then, for a command, says "a" (taken) or not, and closes. */
  async function standIn(takes: boolean) {
    const path = join(dir.path, `stand-in-${takes}.sock`);
    const requests: string[] = [];
    const server = createServer((s) => {
      s.once("data", (b: Buffer) => {
        const type = String.fromCharCode(b[0]!);
        requests.push(type);
        if (type === "K") s.end(frame("k"));
        else s.end(takes ? frame("a") : Buffer.alloc(0));
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const transport: AgentTransport = {
      exec: async (_key, _target, _line, streams) => {
        streams.onStdout?.(Buffer.from("ready 1\n"));
        return { exitCode: 0 };
      },
      openSocket: (_key, _target, _path) =>
        new Promise((resolve, reject) => {
          const s: Socket = connect(path);
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        }),
    };
    const agents = new ExecAgents(transport, signalNumber);
    await agents.start("ws", target);
    expect(agents.state("ws")).toBe("ready");
    return { agents, requests, [Symbol.asyncDispose]: () => new Promise<void>((r) => server.close(() => r())) };
  }

  test("closed before it took the command: nothing ran, so SSH runs it", async () => {
    await using a = await standIn(false);
    expect(await a.agents.exec("ws", target, "true", {})).toEqual({ fallback: "the exec agent closed the connection before the command started" });
  });

  test("closed after it took the command and before saying it started: CONNECTION_LOST, never a second run", async () => {
    await using a = await standIn(true);
    const err = await a.agents.exec("ws", target, "touch once", {}).then(
      (outcome) => new Error(`answered ${JSON.stringify(outcome)}`),
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "CONNECTION_LOST", message: expect.stringContaining("it was not run again") });
    // The tag is killed in case the command did start.
    await until("the kill request", () => a.requests.join(""), (v) => v === "RK", 10_000);
  });
});
