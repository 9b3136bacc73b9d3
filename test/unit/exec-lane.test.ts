// The plain `nexus exec ws -- cmd` on its own path (src/cli/exec-lane.ts), in a fresh process of the
// runtime with stdin on /dev/null, against a raw server on the daemon's socket that records each
// request and answers what the test gives: it sends what the full path sends, prints what it
// prints, says errors as it says them, and leaves to the full path (undefined) exactly the cases
// where that one does more: no daemon, another build, a daemon by URL, the active workspace, stdin
// to forward. Bun only: elsewhere the lane always leaves it to the full path (checked too).
import { describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/fixtures.ts";
import { standInDaemon, type StandInRequest } from "../helpers/stand-in-daemon.ts";
import { evalArgv } from "../helpers/runtime-argv.ts";
import { until } from "../helpers/wait.ts";
import { execBody } from "../../src/cli/exec-lane.ts";

const LANE = join(import.meta.dirname, "..", "..", "src", "cli", "exec-lane.ts");
const FULL = join(import.meta.dirname, "..", "..", "src", "cli", "fast-exec.ts");
const underBun = "Bun" in globalThis && !("Deno" in globalThis);

/** The daemon stand-in at `<home>/daemon.sock`, answering every request with `answer`. */
const fakeDaemon = (home: string, answer: string) => standInDaemon(join(home, "daemon.sock"), () => answer);

/** What a request asked, its body parsed. */
const asked = (r: StandInRequest) => ({ method: r.method, path: r.path, headers: r.headers, body: r.body ? JSON.parse(r.body) : undefined });

const ndjson = (status: string, lines: object[]) => {
  const body = lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
  return `HTTP/1.1 ${status}\r\ncontent-type: application/x-ndjson\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
};
const errorAnswer = (status: string, code: string, message: string) => {
  const body = JSON.stringify({ error: { code, message, suggestion: "Try again", retryable: false } });
  return `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`;
};

/**
 * Runs `fn(argv, process.env)` of `module` in a fresh process with `env` added to ours; its answer,
 * stdout and stderr. `during` acts on the process while it runs.
 */
async function run(module: string, fn: string, argv: string[], env: Record<string, string>, stdin: "ignore" | "pipe" = "ignore", during?: (child: ChildProcess) => Promise<void>) {
  const dir = tempDir("exec-lane-out");
  const out = join(dir.path, "answer.json");
  const code = `
    const m = await import(${JSON.stringify(module)});
    const code = await m.${fn}(${JSON.stringify(argv)}, process.env);
    (await import("node:fs")).writeFileSync(${JSON.stringify(out)}, JSON.stringify({ code: code ?? null }));
    process.exit(0);
  `;
  const [cmd, args] = evalArgv(code);
  const { NEXUS_URL: _u, SSH_AUTH_SOCK: _s, ...inherited } = process.env;
  const child = spawn(cmd, args, { env: { ...inherited, ...env }, stdio: [stdin, "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const closed = new Promise<number | null>((resolve) => child.on("close", resolve));
  await during?.(child);
  const status = await closed;
  try {
    expect({ status, stderr: status === 0 ? "" : stderr }).toEqual({ status: 0, stderr: "" });
    return { code: (JSON.parse(readFileSync(out, "utf8")) as { code: number | null }).code, stdout, stderr };
  } finally {
    await dir[Symbol.asyncDispose]();
  }
}

describe.skipIf(!underBun)("runExecLane", () => {
  test("sends the request the full path sends: method, path, headers and body", async () => {
    await using home = tempDir("exec-lane");
    const daemon = await fakeDaemon(home.path, ndjson("200 OK", [{ type: "result", exitCode: 0 }]));
    try {
      const argv = ["exec", "my ws", "--", "sh", "-c", 'echo "é" $HOME', "--json", "a\\b\tc\nd", "😀", ""];
      const env = { NEXUS_HOME: home.path, SSH_AUTH_SOCK: "/tmp/agent.sock" };
      expect((await run(LANE, "runExecLane", argv, env)).code).toBe(0);
      expect((await run(FULL, "runPlainExec", argv, env)).code).toBe(0);
      expect(daemon.requests).toHaveLength(2);
      const [lane, full] = daemon.requests.map(asked);
      expect(lane).toEqual(full!);
      expect(daemon.requests[0]!.body).toBe(daemon.requests[1]!.body); // byte for byte
      expect(lane!.method).toBe("POST");
      expect(lane!.path).toBe("/api/v1/workspaces/my%20ws/exec");
      expect(lane!.body).toEqual({ command: "sh", args: ["-c", 'echo "é" $HOME', "--json", "a\\b\tc\nd", "😀", ""], agentSocket: "/tmp/agent.sock" });
      expect(lane!.headers["x-nexus-expect-version"]).toBeDefined();
    } finally {
      await daemon.close();
    }
  });

  test("prints the output and the resume as they come, and exits with the command's code", async () => {
    await using home = tempDir("exec-lane");
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const daemon = await fakeDaemon(
      home.path,
      ndjson("200 OK", [
        { type: "resumed", durationMs: 12 },
        { type: "stdout", data: b64("out ☃\n") },
        { type: "stderr", data: b64("err\n") },
        { type: "stdout", data: b64("more\n") },
        { type: "result", exitCode: 3 },
      ]),
    );
    try {
      const r = await run(LANE, "runExecLane", ["exec", "w", "--", "x"], { NEXUS_HOME: home.path });
      expect(r).toEqual({ code: 3, stdout: "out ☃\nmore\n", stderr: "nexus: resumed the paused workspace w (12 ms)\nerr\n" });
    } finally {
      await daemon.close();
    }
  });

  test("an error answer, or an error in the stream, is said as the full path says it, with its exit code", async () => {
    await using home = tempDir("exec-lane");
    for (const answer of [errorAnswer("404 Not Found", "WORKSPACE_NOT_FOUND", "Workspace 'w' doesn't exist"), ndjson("200 OK", [{ type: "error", error: { code: "WORKSPACE_NOT_FOUND", message: "Workspace 'w' doesn't exist", suggestion: "Try again" } }])]) {
      const daemon = await fakeDaemon(home.path, answer);
      try {
        const lane = await run(LANE, "runExecLane", ["exec", "w", "--", "x"], { NEXUS_HOME: home.path, NO_COLOR: "1" });
        const full = await run(FULL, "runPlainExec", ["exec", "w", "--", "x"], { NEXUS_HOME: home.path, NO_COLOR: "1" });
        expect(lane).toEqual(full);
        expect(lane).toEqual({ code: 4, stdout: "", stderr: "Error: Workspace 'w' doesn't exist (WORKSPACE_NOT_FOUND)\n  → Try again\n" });
        expect(daemon.requests).toHaveLength(2); // one each: the lane did not hand it on
      } finally {
        await daemon.close();
      }
    }
  });

  test("a daemon of another build, or none, is left to the full path, which starts or replaces it", async () => {
    await using home = tempDir("exec-lane");
    expect((await run(LANE, "runExecLane", ["exec", "w", "--", "x"], { NEXUS_HOME: home.path })).code).toBeNull();
    const daemon = await fakeDaemon(home.path, errorAnswer("409 Conflict", "VERSION_MISMATCH", "The daemon runs another build"));
    try {
      expect(await run(LANE, "runExecLane", ["exec", "w", "--", "x"], { NEXUS_HOME: home.path })).toEqual({ code: null, stdout: "", stderr: "" });
      expect(daemon.requests).toHaveLength(1);
    } finally {
      await daemon.close();
    }
  });

  test("a daemon by URL, the active workspace, and stdin to forward are left to the full path before anything is sent", async () => {
    await using home = tempDir("exec-lane");
    const daemon = await fakeDaemon(home.path, ndjson("200 OK", [{ type: "result", exitCode: 0 }]));
    try {
      expect((await run(LANE, "runExecLane", ["exec", "w", "--", "x"], { NEXUS_HOME: home.path, NEXUS_URL: "http://127.0.0.1:1" })).code).toBeNull();
      expect((await run(LANE, "runExecLane", ["exec", "--", "x"], { NEXUS_HOME: home.path })).code).toBeNull();
      expect((await run(LANE, "runExecLane", ["exec", "w", "--", "x"], { NEXUS_HOME: home.path }, "pipe")).code).toBeNull();
      expect(daemon.requests).toEqual([]);
      // The same words with nothing of that kind do go out.
      expect((await run(LANE, "runExecLane", ["workspace", "exec", "w", "--", "x"], { NEXUS_HOME: home.path })).code).toBe(0);
      expect(daemon.requests.map((r) => r.path)).toEqual(["/api/v1/workspaces/w/exec"]);
    } finally {
      await daemon.close();
    }
  });
});

describe("execBody", () => {
  const words = ["true", "", "with space", 'quo"te', "back\\slash", "tab\there", "nl\n", "\u0000\u001f\u007f", "é☃", "😀", "\ud800", "x\udfff", "/tmp/agent.sock", "--"];
  test("is JSON.stringify's text of the full path's body, for words with and without escapes", () => {
    for (const w of words) {
      const argv = ["exec", "w", "--", w, ...words, w];
      for (const agent of [undefined, "", w]) {
        const body: Record<string, unknown> = { command: w, args: argv.slice(4) };
        if (agent) body.agentSocket = agent;
        expect(execBody(w, argv, 4, agent)).toBe(JSON.stringify(body));
      }
    }
    expect(execBody("true", ["exec", "w", "--", "true"], 4, undefined)).toBe('{"command":"true","args":[]}');
  });
});

describe.skipIf(!underBun || !existsSync("/proc/self/status"))("runExecLane and Ctrl-C", () => {
  /** Whether the process has a handler of its own for SIGINT (/proc's SigCgt mask, bit 2 - 1). */
  const catchesSigint = (pid: number) => {
    const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & 2n) === 2n;
  };

  test("once the request is out, Ctrl-C cuts the connection (the daemon stops the command) and exits 130", async () => {
    await using home = tempDir("exec-lane");
    // A daemon that has the request and is still at it: it never answers.
    const daemon = await standInDaemon(join(home.path, "daemon.sock"), () => undefined);
    try {
      const r = await run(LANE, "runExecLane", ["exec", "w", "--", "sleep", "600"], { NEXUS_HOME: home.path }, "ignore", async (child) => {
        await until("the request arrives", () => daemon.requests.length, (n) => n === 1, { timeoutMs: 20_000, intervalMs: 5 });
        // The lane takes Ctrl-C over while it waits for the answer, no sooner (exec-lane.ts).
        await until("the lane handles SIGINT", () => catchesSigint(child.pid!), Boolean, { timeoutMs: 20_000, intervalMs: 5 });
        child.kill("SIGINT");
        await until("the connection is cut", () => daemon.openConnections(), (n) => n === 0, { timeoutMs: 20_000, intervalMs: 5 });
      });
      expect(r).toEqual({ code: 130, stdout: "", stderr: "" });
      expect(daemon.requests.map((q) => q.path)).toEqual(["/api/v1/workspaces/w/exec"]);
    } finally {
      await daemon.close();
    }
  });
});

describe.skipIf(underBun)("runExecLane elsewhere", () => {
  test("leaves everything to the full path (it has no Bun sockets)", async () => {
    await using home = tempDir("exec-lane");
    expect((await run(LANE, "runExecLane", ["exec", "w", "--", "x"], { NEXUS_HOME: home.path })).code).toBeNull();
  });
});
