// Sessions end to end: the compiled binary, a daemon this test starts (and SIGKILLs: only its own
// process), a real workspace with a real sshd, and a real PTY for the interactive path (the CLI runs
// in a tmux pane on the host, on a tmux server of this test's own). A detached command outlives the
// CLI and a killed daemon; what it printed while no daemon ran shows in logs and attach.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fromGrpcError } from "../../src/api/grpc/errors.ts";
import { workspaceServiceDefinition } from "../../src/api/grpc/server.ts";
import { removeLeftovers } from "../helpers/docker.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E } from "../helpers/cli.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const root = tempDir("ses");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const TMUX_SOCKET = `nexus-e2e-${process.pid}`;
const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
let daemon: ChildProcess | undefined;

// create may build the workspace image first (minutes on a loaded machine): the runner's ten minutes.
const nexus = nexusRunner({ home, cwd: repo });

function json<T>(...args: string[]): T {
  const r = nexus([...args, "--json"]);
  if (r.code !== 0) throw new Error(`nexus ${args.join(" ")}: ${r.code} ${r.stdout} ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

interface Session {
  id: string;
  status: string;
  exit_code: number | null;
  attached_clients: number;
  kind: string;
}
const sessionsOf = () => json<{ sessions: Session[] }>("sessions", "list").sessions;

/** The daemon in the foreground, as this test's own child process. */
async function startDaemon(): Promise<ChildProcess> {
  const child = nexus.spawn(["daemon"], { stdio: ["ignore", "ignore", "ignore"] });
  await until("the daemon's socket", () => existsSync(join(home, "daemon.pid")) && readFileSync(join(home, "daemon.pid"), "utf8").trim() === String(child.pid), (ok) => ok, 60_000);
  return child;
}

async function killDaemon(sig: NodeJS.Signals): Promise<void> {
  const d = daemon!;
  daemon = undefined;
  if (d.exitCode !== null || d.signalCode !== null) return;
  const gone = new Promise<void>((r) => d.once("exit", () => r()));
  d.kill(sig);
  await gone;
}

// ---- the host terminal: tmux on a socket of this test's own ------------------------------------
const host = (...args: string[]) => spawnSync("tmux", ["-L", TMUX_SOCKET, ...args], { encoding: "utf8" });
/** The pane's screen; with `history`, the rows scrolled off above it too. */
const screen = (pane: string, history = false) => host("capture-pane", "-p", "-J", "-t", pane, ...(history ? ["-S", "-200"] : [])).stdout;
/** Runs the CLI in a new host pane (a real PTY); the pane keeps the CLI's exit code on screen. */
function inPane(pane: string, ...args: string[]): void {
  const cmd = `${nexus.line(args)}; echo "CLI-EXIT=$?"; sleep 600`;
  if (host("has-session", "-t", pane).status === 0) host("respawn-pane", "-k", "-t", pane, cmd);
  else host("new-session", "-d", "-s", pane, "-x", "100", "-y", "30", cmd);
}
const waitScreen = (pane: string, what: RegExp, timeoutMs = 60_000, history = false) => until(`${what} on the ${pane} screen`, () => screen(pane, history), (s) => what.test(s), timeoutMs);

beforeAll(async () => {
  requireE2E();
  daemon = await startDaemon();
  const created = nexus(["create", "s1"]);
  if (created.code !== 0) throw new Error(`create: ${created.stderr}`);
}, 900_000);

afterAll(async () => {
  try {
    if (hasTmux) host("kill-server");
    if (daemon) nexus(["destroy", "s1", "--force"]);
    await killDaemon("SIGTERM").catch(() => {});
  } finally {
    removeLeftovers(home);
    await root[Symbol.asyncDispose]();
  }
}, 180_000);

describe("a detached command outlives the CLI and a killed daemon", () => {
  let id = "";

  test("exec --detach prints the id at once, and the command runs on after the CLI exited", async () => {
    // One line every 0.1 s, each with the time it was printed (ns), then exit 7.
    const r = nexus(["exec", "--detach", "s1", "--", "sh", "-c", 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo "n $i $(date +%s%N)"; [ -e /tmp/stop ] && exit 7; sleep 0.1; done']);
    expect(r.code).toBe(0);
    id = r.stdout.trim();
    expect(id).toMatch(/^ses-[0-9a-f]{8}$/);
    await until("lines printed after the CLI exited", () => json<{ lines: string[] }>("sessions", "logs", id, "--tail", "5").lines, (l) => l.some((x) => /^n ([5-9]|\d\d+) /.test(x)));
    expect(sessionsOf().find((s) => s.id === id)).toMatchObject({ status: "active", exit_code: null, kind: "command" });
  });

  test("SIGKILL the daemon: a new one lists the session, logs and attach show what was printed meanwhile, then live output", async () => {
    await killDaemon("SIGKILL");
    const killedAt = BigInt(Date.now()) * 1_000_000n;
    await new Promise((r) => setTimeout(r, 3000)); // no daemon at all for three seconds
    const restartedAt = BigInt(Date.now()) * 1_000_000n;
    daemon = await startDaemon();
    expect(sessionsOf().find((s) => s.id === id)).toMatchObject({ status: "active" });
    const stamp = (line: string) => BigInt(line.split(" ")[2] ?? "0");
    const meanwhile = (lines: string[]) => lines.filter((l) => /^n \d+ \d+$/.test(l) && stamp(l) > killedAt && stamp(l) < restartedAt);
    const logs = json<{ lines: string[] }>("sessions", "logs", id, "--tail", "500").lines;
    expect(meanwhile(logs).length).toBeGreaterThanOrEqual(3);

    // REST attach (text form): the scrollback with those lines first, then lines printed after the attach began.
    const attachedAt = BigInt(Date.now()) * 1_000_000n;
    const abort = new AbortController();
    const res = await fetch(`http://nexus/api/v1/sessions/${id}/attach`, { method: "POST", body: "{}", unix: join(home, "daemon.sock"), signal: abort.signal } as RequestInit);
    expect(res.status).toBe(200);
    const seen: string[] = [];
    const decoder = new TextDecoder();
    let buffered = "";
    const reader = res.body!.getReader();
    while (!seen.some((l) => /^n \d+ \d+$/.test(l) && stamp(l) > attachedAt + 300_000_000n)) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const event = JSON.parse(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        if (event.type === "output") seen.push(...String(event.data).split("\n").filter(Boolean));
      }
    }
    abort.abort();
    expect(meanwhile(seen).length).toBeGreaterThanOrEqual(3);
    const numbers = seen.map((l) => Number(l.split(" ")[1]));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b)); // in order, each once
    expect(new Set(numbers).size).toBe(numbers.length);
  }, 240_000);

  test("the exit code is kept: logs -f ends with it, list says exited (code 7)", async () => {
    const follow = nexus.spawn(["sessions", "logs", id, "-f", "--tail", "1"], { stdio: ["ignore", "pipe", "pipe"] });
    const code = new Promise<number | null>((r) => follow.once("exit", (c) => r(c)));
    expect(nexus(["exec", "s1", "--", "touch", "/tmp/stop"]).code).toBe(0);
    expect(await code).toBe(7);
    expect(sessionsOf().find((s) => s.id === id)).toMatchObject({ status: "exited", exit_code: 7 });
    const text = nexus(["sessions", "list"]).stdout;
    expect(text).toContain("exited (code 7)");
  });

  test("kill removes it; then its id is NOT_FOUND", () => {
    expect(nexus(["sessions", "kill", id])).toMatchObject({ code: 0 });
    expect(sessionsOf().find((s) => s.id === id)).toBeUndefined();
    const again = nexus(["sessions", "logs", id]);
    expect(again.code).toBe(4);
    expect(again.stderr).toContain(`Session '${id}' doesn't exist`);
  });
});

describe("keys sent before the attach is made", () => {
  test("console with its keys piped in at once: the shell gets them and the CLI exits with its code", () => {
    // The CLI writes stdin as it comes, before the daemon has made the terminal: those keys are held, not lost.
    const r = nexus(["console", "s1"], { input: "exit 4\n", timeoutMs: 120_000 });
    expect(r.code).toBe(4);
    expect(sessionsOf().filter((s) => s.kind === "console")).toEqual([]);
  });
});

describe("a live follower of more rows than tmux keeps (its history: 50,000)", () => {
  test("REST logs?follow=true and nexus sessions logs -f get every one of 200,000 numbered lines once, in order, then the code", async () => {
    const TOTAL = 200_000;
    const sock = join(home, "daemon.sock");
    // The command says it is ready, then waits for Enter: both followers are live before its output.
    const made = await fetch("http://nexus/api/v1/sessions", {
      method: "POST",
      body: JSON.stringify({ workspace: "s1", command: "sh", args: ["-c", `echo ready; read x; seq 1 ${TOTAL}; exit 6`] }),
      headers: { "content-type": "application/json" },
      unix: sock,
    } as RequestInit);
    expect(made.status).toBe(201);
    const id = ((await made.json()) as { id: string }).id;
    const abort = new AbortController();
    try {
      const rest: string[] = [];
      let end: { reason?: string; exitCode?: number } | undefined;
      const res = await fetch(`http://nexus/api/v1/sessions/${id}/logs?follow=true&tail=5`, { unix: sock, signal: abort.signal } as RequestInit);
      expect(res.status).toBe(200);
      const reading = (async () => {
        const decoder = new TextDecoder();
        let buffered = "";
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffered += decoder.decode(chunk, { stream: true });
          for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
            const event = JSON.parse(buffered.slice(0, nl));
            buffered = buffered.slice(nl + 1);
            if (event.type === "line") rest.push(event.line);
            else if (event.type === "result") end = event;
          }
        }
      })();
      let cli = "";
      const follow = nexus.spawn(["sessions", "logs", id, "-f", "--tail", "5"], { stdio: ["ignore", "pipe", "pipe"] });
      follow.stdout!.on("data", (b: Buffer) => (cli += b.toString("utf8")));
      const cliCode = new Promise<number | null>((r) => follow.once("exit", (c) => r(c)));
      await until("both followers past 'ready'", () => rest.includes("ready") && /^ready$/m.test(cli), Boolean, 60_000);
      const enter = await fetch(`http://nexus/api/v1/sessions/${id}/input`, { method: "POST", body: JSON.stringify({ text: "", enter: true }), headers: { "content-type": "application/json" }, unix: sock } as RequestInit);
      expect(enter.status).toBe(200);
      await until("the REST stream's end", () => end, Boolean, { timeoutMs: 180_000, intervalMs: 100, detail: () => `${rest.length} lines came` });
      await reading;
      expect(end).toMatchObject({ reason: "exited", exitCode: 6 });
      const expected = ["ready", "", ...Array.from({ length: TOTAL }, (_, i) => String(i + 1))];
      // Compared as one text: a difference shows where, without a diff of 200,000 entries.
      const firstDifference = (got: string[]) => got.findIndex((l, i) => l !== expected[i]);
      expect({ lines: rest.length, firstDifference: firstDifference(rest) }).toEqual({ lines: expected.length, firstDifference: -1 });
      expect(await cliCode).toBe(6);
      const cliLines = cli.replace(/\n$/, "").split("\n");
      expect({ lines: cliLines.length, firstDifference: firstDifference(cliLines) }).toEqual({ lines: expected.length, firstDifference: -1 });
    } finally {
      abort.abort();
      nexus(["sessions", "kill", id]);
    }
  }, 300_000);
});

describe("unknown ids: the same NOT_FOUND on every surface", () => {
  test("CLI, REST and gRPC against the daemon (the WebSocket: test/unit/sessions-surfaces.test.ts)", async () => {
    for (const args of [["attach"], ["logs"], ["logs", "-f"], ["send", "x"], ["kill"]]) {
      const [verb, ...rest] = args;
      const r = nexus(["sessions", verb!, "ses-00000000", ...rest]);
      expect({ args, code: r.code }).toEqual({ args, code: 4 });
      expect(r.stderr).toContain("Session 'ses-00000000' doesn't exist (NOT_FOUND)");
    }
    const j = nexus(["sessions", "kill", "ses-00000000", "--json"]);
    expect(JSON.parse(j.stdout)).toEqual({ error: { code: "NOT_FOUND", message: "Session 'ses-00000000' doesn't exist", suggestion: "Run 'nexus sessions list' to see the sessions", retryable: false, details: { sessionId: "ses-00000000" } } });
    for (const [method, path] of [["GET", "/api/v1/sessions/ses-00000000"], ["POST", "/api/v1/sessions/ses-00000000/attach"], ["DELETE", "/api/v1/sessions/ses-00000000"]] as const) {
      const res = await fetch(`http://nexus${path}`, { method, unix: join(home, "daemon.sock") } as RequestInit);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    }
    const Client = grpc.makeGenericClientConstructor(workspaceServiceDefinition(), "WorkspaceService");
    const client = new Client(`unix://${join(home, "grpc.sock")}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
    try {
      const kill = await new Promise<grpc.ServiceError>((resolve) => client.KillSession({ sessionId: "ses-00000000" }, (err: grpc.ServiceError) => resolve(err)));
      expect(kill.code).toBe(grpc.status.NOT_FOUND);
      expect(fromGrpcError(kill).code).toBe("NOT_FOUND");
      const attach = await new Promise<grpc.ServiceError>((resolve) => {
        const call = client.AttachSession({ sessionId: "ses-00000000" });
        call.on("data", () => {});
        call.on("error", resolve);
      });
      expect(attach.code).toBe(grpc.status.NOT_FOUND);
    } finally {
      client.close();
    }
  });
});

describe.skipIf(!hasTmux)("the interactive path through a real PTY", () => {
  test("console: type, read the screen, detach with Ctrl-\\, a second client, attach again, exit with a code", async () => {
    inPane("a", "console", "s1");
    // The prompt: nexus@s1 …$, or root@s1 …# when the host user is root (the container user then has uid 0).
    await waitScreen("a", /@s1:\/workspace[$#] $/m);
    host("send-keys", "-t", "a", "echo hello-$((6*7))", "Enter");
    await waitScreen("a", /^hello-42$/m);
    const id = await until("the console session", () => sessionsOf().find((s) => s.kind === "console"), (s) => s !== undefined);
    expect(id!.attached_clients).toBe(1);

    // A second client sees the same screen and what the first one types.
    inPane("b", "sessions", "attach", id!.id);
    await waitScreen("b", /^hello-42$/m);
    await until("two clients", () => sessionsOf().find((s) => s.id === id!.id)?.attached_clients, (n) => n === 2);
    host("send-keys", "-t", "b", "echo from-b-$((2+3))", "Enter");
    await waitScreen("a", /^from-b-5$/m);

    // The detach key leaves the session running; the CLI exits 0.
    host("send-keys", "-t", "a", "C-\\");
    await waitScreen("a", /\[detached from ses-[0-9a-f]{8}.*\]\s+CLI-EXIT=0/s);
    await until("one client", () => sessionsOf().find((s) => s.id === id!.id)?.attached_clients, (n) => n === 1);
    host("send-keys", "-t", "b", "C-\\");
    await waitScreen("b", /CLI-EXIT=0/);
    expect(sessionsOf().find((s) => s.id === id!.id)).toMatchObject({ status: "active", attached_clients: 0 });

    // Back again: the screen (and what was typed before) is there; `exit 3` ends it with that code.
    inPane("a", "sessions", "attach", id!.id);
    await waitScreen("a", /^from-b-5$/m);
    host("send-keys", "-t", "a", "exit 3", "Enter");
    await waitScreen("a", /exited with code 3\]\s+CLI-EXIT=3/s);
    // A console whose shell ended is removed.
    expect(sessionsOf().find((s) => s.id === id!.id)).toBeUndefined();
  }, 300_000);

  test("attaching to a command that has finished shows its last screen and exits with its code", async () => {
    const id = nexus(["exec", "--detach", "s1", "--", "sh", "-c", "echo finished-here; exit 9"]).stdout.trim();
    await until("it to finish", () => sessionsOf().find((s) => s.id === id), (s) => s?.status === "exited");
    inPane("d", "sessions", "attach", id);
    await waitScreen("d", /finished-here[\s\S]*exited with code 9\]\s+CLI-EXIT=9/, 60_000, true);
    expect(sessionsOf().find((s) => s.id === id)).toMatchObject({ status: "exited", exit_code: 9, attached_clients: 0 });
    expect(nexus(["sessions", "kill", id]).code).toBe(0);
  }, 300_000);

  test("a paused workspace resumes on attach", async () => {
    const r = nexus(["exec", "--detach", "s1", "--", "sh", "-c", "echo paused-then-back; exec sleep 600"]);
    const id = r.stdout.trim();
    await until("its line", () => json<{ lines: string[] }>("sessions", "logs", id).lines, (l) => l.includes("paused-then-back"));
    expect(nexus(["pause", "s1"]).code).toBe(0);
    expect(json<{ status: string }>("status", "s1").status).toBe("paused");
    // Listed from what the daemon saw last, without thawing it.
    expect(sessionsOf().find((s) => s.id === id)).toMatchObject({ status: "active" });
    expect(json<{ status: string }>("status", "s1").status).toBe("paused");
    inPane("c", "sessions", "attach", id);
    await waitScreen("c", /^paused-then-back$/m);
    expect(json<{ status: string }>("status", "s1").status).toBe("running");
    host("send-keys", "-t", "c", "C-\\");
    await waitScreen("c", /CLI-EXIT=0/);
    expect(nexus(["sessions", "kill", id]).code).toBe(0);
  }, 300_000);
});
