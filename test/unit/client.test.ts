// The CLI's typed client against real HTTP servers in this process (the app, or a small server that
// misbehaves on purpose). Nothing here reaches Docker or SSH.
import { describe, expect, test } from "bun:test";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { DaemonClient, isIdempotent, mayResend, reachOf, type StreamEvent } from "../../src/cli/client.ts";
import { NexusError } from "../../src/core/errors.ts";
import { currentRuntime } from "../../src/runtime/index.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { rejectionOf as failure } from "../helpers/errors.ts";
import { serveLocal } from "../helpers/serve.ts";
import { setTimeout as sleep } from "node:timers/promises";

type Handler = (req: Request) => Response | Promise<Response>;

/** A TCP server on 127.0.0.1 (a free port) that stops itself on dispose. */
function serve(fetch: Handler) {
  return serveLocal(fetch);
}

const ndjson = (lines: object[], status = 200) =>
  new Response(lines.map((l) => JSON.stringify(l) + "\n").join(""), { status, headers: { "content-type": "application/x-ndjson" } });

describe("DaemonClient.json", () => {
  test("sends method, JSON body, accept and the bearer token; returns the parsed body", async () => {
    let seen: { method: string; path: string; accept: string | null; auth: string | null; ctype: string | null; body: string } | undefined;
    await using s = serve(async (req) => {
      seen = {
        method: req.method,
        path: new URL(req.url).pathname,
        accept: req.headers.get("accept"),
        auth: req.headers.get("authorization"),
        ctype: req.headers.get("content-type"),
        body: await req.text(),
      };
      return Response.json({ ok: true });
    });
    const client = new DaemonClient({ url: s.url, token: "s3cret" });
    expect(await client.json<{ ok: boolean }>("POST", "/api/v1/thing", { a: 1 })).toEqual({ ok: true });
    expect(seen).toEqual({ method: "POST", path: "/api/v1/thing", accept: "application/json", auth: "Bearer s3cret", ctype: "application/json", body: '{"a":1}' });
  });

  test("no token, no authorization header; no body, no content-type", async () => {
    let headers: Headers | undefined;
    await using s = serve((req) => {
      headers = req.headers;
      return Response.json({});
    });
    await new DaemonClient({ url: s.url }).json("GET", "/x");
    expect(headers?.get("authorization")).toBeNull();
    expect(headers?.get("content-type")).toBeNull();
  });

  test("an error body becomes the NexusError it describes", async () => {
    await using s = serve(() =>
      Response.json({ error: { code: "WORKSPACE_NOT_FOUND", message: "Workspace 'x' doesn't exist", suggestion: "list", retryable: false, details: { workspaceName: "x" } } }, { status: 404 }),
    );
    const e = await failure(new DaemonClient({ url: s.url }).json("GET", "/api/v1/workspaces/x"));
    expect(e.code).toBe("WORKSPACE_NOT_FOUND");
    expect(e.message).toBe("Workspace 'x' doesn't exist");
    expect(e.details).toEqual({ workspaceName: "x" });
  });

  test("a non-JSON error is INTERNAL_ERROR quoting the status and text; 401 is AUTHENTICATION_FAILED", async () => {
    await using s = serve((req) => (new URL(req.url).pathname === "/auth" ? new Response("go away", { status: 401 }) : new Response("Bad Gateway from a proxy", { status: 502 })));
    const e = await failure(new DaemonClient({ url: s.url }).json("GET", "/x"));
    expect(e.code).toBe("INTERNAL_ERROR");
    expect(e.message).toContain("502");
    expect(e.message).toContain("Bad Gateway from a proxy");
    expect((await failure(new DaemonClient({ url: s.url }).json("GET", "/auth"))).code).toBe("AUTHENTICATION_FAILED");
  });

  test("nothing listening is DAEMON_UNREACHABLE naming where", async () => {
    const e = await failure(new DaemonClient({ url: "http://127.0.0.1:1" }).json("GET", "/api/v1/version"));
    expect(e.code).toBe("DAEMON_UNREACHABLE");
    expect(e.message).toContain("http://127.0.0.1:1");
    expect(e.details?.where).toBe("http://127.0.0.1:1");
  });

  test("a socket path with nothing behind it is DAEMON_UNREACHABLE", async () => {
    await using dir = tempDir("client");
    const e = await failure(new DaemonClient({ socketPath: join(dir.path, "daemon.sock") }).json("GET", "/api/v1/version"));
    expect(e.code).toBe("DAEMON_UNREACHABLE");
  });

  test("works over a unix socket", async () => {
    await using dir = tempDir("client");
    const sock = join(dir.path, "d.sock");
    const server = await (await currentRuntime()).serveUnix(sock, (req) => Response.json({ path: new URL(req.url).pathname }));
    try {
      expect(await new DaemonClient({ socketPath: sock }).json("GET", "/api/v1/version")).toEqual({ path: "/api/v1/version" });
    } finally {
      await server.stop();
    }
  });

  test("a timeout is DAEMON_UNREACHABLE rather than a hang", async () => {
    await using s = serve(async () => {
      await sleep(2000);
      return Response.json({});
    });
    const started = Date.now();
    const e = await failure(new DaemonClient({ url: s.url }).json("GET", "/slow", undefined, { timeoutMs: 100 }));
    expect(e.code).toBe("DAEMON_UNREACHABLE");
    expect(Date.now() - started).toBeLessThan(1500);
  });
});

// Over TCP (-u/--url) the client uses fetch; over the local socket under Bun, the runtime's own
// sockets (src/runtime/unix-stream.ts): both must give the same events, errors and back-pressure.
for (const transport of ["url", "socket"] as const) describe(`DaemonClient.stream (${transport})`, () => {
  /** A server for `fetch` and a client of it, by this transport. */
  const serve = async (fetch: Handler) => {
    if (transport === "url") {
      const s = serveLocal(fetch);
      return { client: new DaemonClient({ url: s.url }), [Symbol.asyncDispose]: () => s.stop() };
    }
    const dir = tempDir("client-stream");
    const sock = join(dir.path, "d.sock");
    const server = await (await currentRuntime()).serveUnix(sock, fetch);
    return {
      client: new DaemonClient({ socketPath: sock }),
      [Symbol.asyncDispose]: async () => {
        await server.stop();
        await dir[Symbol.asyncDispose]();
      },
    };
  };

  test("delivers events in order and resolves with the result", async () => {
    await using s = await serve((req) => {
      expect(req.headers.get("accept")).toBe("application/x-ndjson");
      return ndjson([
        { type: "progress", message: "one" },
        { type: "stdout", data: "aGk=" },
        { type: "result", exitCode: 0 },
      ]);
    });
    const events: StreamEvent[] = [];
    const result = await s.client.stream("POST", "/x", {}, (e) => events.push(e));
    expect(events).toEqual([
      { type: "progress", message: "one" },
      { type: "stdout", data: "aGk=" },
    ]);
    expect(result).toEqual({ type: "result", exitCode: 0 });
  });

  test("a promise from onEvent holds the next event until it settles (the CLI's stdout is behind)", async () => {
    await using s = await serve(() => ndjson([{ type: "stdout", data: "YQ==" }, { type: "stdout", data: "Yg==" }, { type: "result", exitCode: 0 }]));
    const seen: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const result = s.client.stream("POST", "/x", {}, (e) => {
      seen.push(String(e.data));
      return seen.length === 1 ? held : undefined;
    });
    // The first event is taken; the second waits for the first one's promise, however long.
    const deadline = Date.now() + 10_000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(["YQ=="]);
    release();
    expect(await result).toEqual({ type: "result", exitCode: 0 });
    expect(seen).toEqual(["YQ==", "Yg=="]);
  });

  test("lines split across chunks are put back together", async () => {
    await using s = await serve(() => {
      const text = '{"type":"progress","message":"hé"}\n{"type":"res' + 'ult","ok":true}\n';
      const bytes = new TextEncoder().encode(text);
      const body = new ReadableStream<Uint8Array>({
        async start(c) {
          for (let i = 0; i < bytes.length; i += 7) {
            c.enqueue(bytes.subarray(i, i + 7));
            await sleep(1);
          }
          c.close();
        },
      });
      return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
    });
    const events: StreamEvent[] = [];
    const result = await s.client.stream("POST", "/x", {}, (e) => events.push(e));
    expect(events).toEqual([{ type: "progress", message: "hé" }]);
    expect(result).toEqual({ type: "result", ok: true });
  });

  test("an error event becomes its NexusError", async () => {
    await using s = await serve(() => ndjson([{ type: "progress" }, { type: "error", error: { code: "BACKEND_UNAVAILABLE", message: "no engine", retryable: true } }]));
    const e = await failure(s.client.stream("POST", "/x", {}, () => {}));
    expect(e.code).toBe("BACKEND_UNAVAILABLE");
    expect(e.message).toBe("no engine");
  });

  test("an HTTP error before the stream becomes its NexusError", async () => {
    await using s = await serve(() => Response.json({ error: { code: "INVALID_ARGUMENT", message: "bad name", retryable: false } }, { status: 400 }));
    const e = await failure(s.client.stream("POST", "/x", {}, () => {}));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toBe("bad name");
  });

  test("a stream that ends without a result is CONNECTION_LOST", async () => {
    await using s = await serve(() => ndjson([{ type: "progress", message: "working" }]));
    const e = await failure(s.client.stream("POST", "/x", {}, () => {}));
    expect(e.code).toBe("CONNECTION_LOST");
  });

  test("blank and garbage lines are skipped", async () => {
    await using s = await serve(() => new Response('\n   \nnot json\n{"type":"result","n":1}\n'));
    expect(await s.client.stream("POST", "/x", {}, () => {})).toEqual({ type: "result", n: 1 });
  });
});

// ---- sending a request again after the daemon went away -------------------------------------------

/**
 * What the raw server does with a request: cut the connection once it arrived, cut it half way
 * through a JSON answer or after the first event of a stream, answer JSON, or stream these events.
 */
type Reply = "cut" | "half" | "midstream" | { status: number; body: unknown } | { events: object[] };

/**
 * An HTTP/1.1 server on a unix socket that can drop connections the way a SIGKILLed daemon does.
 * `reply` gets each request (method and path) and its number; `seen` lists them all. A "midstream"
 * cut comes once `cutWhen` holds (e.g. the client has shown the progress it got), or after 30 s.
 */
function rawServer(socketPath: string, reply: (req: string, n: number) => Reply, cutWhen: () => boolean = () => true) {
  const seen: string[] = [];
  const server: Server = createServer((sock) => {
    sock.once("data", (chunk: Buffer) => {
      const [method = "", target = ""] = chunk.toString("latin1").split(" ");
      // Deno's unix-socket client treats the socket as a proxy and sends the absolute form
      // (`http://127.0.0.1/api/…`), which an HTTP/1.1 server must accept: compare paths only.
      const req = `${method} ${target.replace(/^[a-z]+:\/\/[^/]*/i, "")}`;
      seen.push(req);
      const r = reply(req, seen.length);
      if (r === "cut") return void sock.destroy();
      if (r === "half") {
        sock.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 50\r\n\r\n{"status":');
        return void setTimeout(() => sock.destroy(), 10);
      }
      if (r === "midstream" || "events" in r) {
        const events = r === "midstream" ? [{ type: "progress", message: "Starting container" }] : r.events;
        sock.write("HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
        for (const e of events) {
          const line = Buffer.from(JSON.stringify(e) + "\n");
          sock.write(`${line.length.toString(16)}\r\n${line}\r\n`);
        }
        // Cut once the client has what was written: a destroy drops what it has not read yet.
        if (r === "midstream") return void until("the client reads the progress", cutWhen, Boolean, { timeoutMs: 30_000, intervalMs: 5 }).finally(() => sock.destroy()).catch(() => {});
        return void sock.end("0\r\n\r\n");
      }
      const text = JSON.stringify(r.body);
      sock.end(`HTTP/1.1 ${r.status} X\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
    });
  });
  const listening = new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { seen, listening, [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A client whose `recover` only counts its calls (the daemon "restarted" is the same raw server). */
function recoveringClient(socketPath: string, recovers = true) {
  const calls: string[] = [];
  const client = new DaemonClient({
    socketPath,
    recover: async (err) => {
      calls.push(err.code);
      return recovers;
    },
  });
  return { client, calls };
}

const unreachableWith = (cause: string) => new NexusError("DAEMON_UNREACHABLE", "not answering", { details: { where: "x", cause } });
const notFound = { status: 404, body: { error: { code: "WORKSPACE_NOT_FOUND", message: "Workspace 'w' doesn't exist", retryable: false } } };

describe("isIdempotent", () => {
  test.each([
    ["GET", "/api/v1/workspaces"],
    ["GET", "/api/v1/workspaces/w/status"],
    ["HEAD", "/api/v1/version"],
    ["OPTIONS", "/api/v1/workspaces"],
    ["PUT", "/api/v1/anything"],
    ["DELETE", "/api/v1/workspaces/w?force=true"],
    ["DELETE", "/api/v1/active-workspace"],
    ["POST", "/api/v1/workspaces/w/start"],
    ["POST", "/api/v1/workspaces/w/stop"],
    ["POST", "/api/v1/workspaces/w/restart"],
    ["POST", "/api/v1/workspaces/w/pause"],
    ["POST", "/api/v1/workspaces/w/resume"],
    ["POST", "/api/v1/workspaces/w/switch"],
    ["POST", "/api/v1/workspaces/ws_0123abcd/stop?x=1"],
    ["post", "/api/v1/workspaces/w%2Fx/stop"],
    ["get", "/api/v1/version"],
  ])("%s %s may be sent twice", (method, path) => {
    expect(isIdempotent(method, path)).toBe(true);
  });

  test.each([
    ["POST", "/api/v1/workspaces"], // create
    ["POST", "/api/v1/workspaces/w/exec"],
    ["POST", "/api/v1/workspaces/w/ssh/rotate-keys"],
    ["POST", "/api/v1/workspaces/w/ssh/config"],
    ["POST", "/api/v1/tokens"],
    ["POST", "/api/v1/daemon/shutdown"],
    ["PATCH", "/api/v1/workspaces/w"],
    ["POST", "/api/v1/workspaces/w/stop/more"],
    ["POST", "/api/v1/workspaces/w/stopped"],
    ["POST", "/api/v1/workspaces//stop"],
    ["POST", "/api/v2/workspaces/w/stop"],
  ])("%s %s may not", (method, path) => {
    expect(isIdempotent(method, path)).toBe(false);
  });
});

describe("mayResend", () => {
  const refused = [unreachableWith("ENOENT"), unreachableWith("ECONNREFUSED"), unreachableWith("error sending request for url (http://127.0.0.1/x): client error (Connect): No such file or directory (os error 2)")];
  const cut = [
    unreachableWith("ECONNRESET"),
    unreachableWith("EPIPE"),
    unreachableWith("error sending request for url (http://127.0.0.1/x): client error (SendRequest): connection closed before message completed"),
    new NexusError("CONNECTION_LOST", "stream broke off", { details: { where: "x", cause: "the stream ended without a result" } }),
  ];

  test("how far a request went is read from the failure", () => {
    expect(refused.map(reachOf)).toEqual(["refused", "refused", "refused"]);
    expect(cut.map(reachOf)).toEqual(["cut", "cut", "cut", "cut"]);
    expect(reachOf(new NexusError("WORKSPACE_NOT_FOUND", "x"))).toBeUndefined();
  });

  test("a request that never reached a daemon, or that another version turned away, is sent again whatever it is", () => {
    for (const err of [...refused, new NexusError("VERSION_MISMATCH", "other build")]) {
      expect(mayResend(err, "POST", "/api/v1/workspaces")).toBe(true);
      expect(mayResend(err, "POST", "/api/v1/workspaces/w/exec")).toBe(true);
      expect(mayResend(err, "GET", "/api/v1/workspaces")).toBe(true);
    }
  });

  test("a cut one only when it is idempotent: never a create or an exec", () => {
    for (const err of cut) {
      expect(mayResend(err, "POST", "/api/v1/workspaces/w/stop")).toBe(true);
      expect(mayResend(err, "DELETE", "/api/v1/workspaces/w")).toBe(true);
      expect(mayResend(err, "GET", "/api/v1/workspaces")).toBe(true);
      expect(mayResend(err, "POST", "/api/v1/workspaces")).toBe(false);
      expect(mayResend(err, "POST", "/api/v1/workspaces/w/exec")).toBe(false);
      expect(mayResend(err, "POST", "/api/v1/daemon/shutdown")).toBe(false);
    }
  });

  test("never one that timed out, nor one the daemon answered with an error", () => {
    const timeout = unreachableWith("timed out");
    expect(reachOf(timeout)).toBe("timeout");
    expect(mayResend(timeout, "GET", "/api/v1/version")).toBe(false);
    for (const code of ["CONNECTION_LOST", "INTERNAL_ERROR", "BACKEND_UNAVAILABLE", "WORKSPACE_NOT_FOUND"] as const) {
      expect(mayResend(new NexusError(code, "x"), "GET", "/api/v1/workspaces")).toBe(false);
    }
  });
});

describe("DaemonClient after a connection cut", () => {
  test("an idempotent request is sent again once the daemon is back, and its answer returned", async () => {
    await using dir = tempDir("client");
    const sock = join(dir.path, "d.sock");
    await using server = rawServer(sock, (_req, n) => (n % 2 === 1 ? "cut" : { status: 200, body: { status: "stopped" } }));
    await server.listening;
    const { client, calls } = recoveringClient(sock);
    expect(await client.json("POST", "/api/v1/workspaces/w/stop", { timeout: 5 })).toEqual({ status: "stopped" });
    expect(await client.json("GET", "/api/v1/workspaces/w")).toEqual({ status: "stopped" });
    expect(calls).toEqual(["DAEMON_UNREACHABLE", "DAEMON_UNREACHABLE"]);
    expect(server.seen).toEqual(["POST /api/v1/workspaces/w/stop", "POST /api/v1/workspaces/w/stop", "GET /api/v1/workspaces/w", "GET /api/v1/workspaces/w"]);
  });

  test("a create or an exec that was cut is not sent again: the error says the daemon went away", async () => {
    await using dir = tempDir("client");
    const sock = join(dir.path, "d.sock");
    await using server = rawServer(sock, () => "cut");
    await server.listening;
    const { client, calls } = recoveringClient(sock);
    const create = await failure(client.stream("POST", "/api/v1/workspaces", { name: "w" }, () => {}));
    const exec = await failure(client.stream("POST", "/api/v1/workspaces/w/exec", { command: ["true"] }, () => {}));
    const createJson = await failure(client.json("POST", "/api/v1/workspaces", { name: "w" }));
    for (const e of [create, exec, createJson]) expect({ code: e.code, reach: reachOf(e) }).toEqual({ code: "DAEMON_UNREACHABLE", reach: "cut" });
    expect(calls).toEqual([]);
    expect(server.seen).toEqual(["POST /api/v1/workspaces", "POST /api/v1/workspaces/w/exec", "POST /api/v1/workspaces"]);
  });

  test("a stream cut part way: an idempotent request is sent again whole, a create is not", async () => {
    await using dir = tempDir("client");
    const sock = join(dir.path, "d.sock");
    let starts = 0;
    const events: StreamEvent[] = [];
    await using server = rawServer(
      sock,
      (req) => {
        if (req.startsWith("POST /api/v1/workspaces/w/start") && ++starts === 1) return "midstream";
        if (req.startsWith("POST /api/v1/workspaces/w/start")) return { events: [{ type: "progress", message: "Starting container" }, { type: "result", status: "running" }] };
        return "midstream";
      },
      () => events.length > 0,
    );
    await server.listening;
    const { client, calls } = recoveringClient(sock);
    expect(await client.stream("POST", "/api/v1/workspaces/w/start", {}, (e) => events.push(e))).toEqual({ type: "result", status: "running" });
    // The progress the cut stream showed comes again from the request sent again.
    expect(events.map((e) => e.message)).toEqual(["Starting container", "Starting container"]);
    expect(calls).toEqual(["CONNECTION_LOST"]);

    const create = await failure(client.stream("POST", "/api/v1/workspaces", { name: "x" }, () => {}));
    expect({ code: create.code, reach: reachOf(create) }).toEqual({ code: "CONNECTION_LOST", reach: "cut" });
    expect(calls).toEqual(["CONNECTION_LOST"]);
    expect(server.seen).toEqual(["POST /api/v1/workspaces/w/start", "POST /api/v1/workspaces/w/start", "POST /api/v1/workspaces"]);
  });

  test("a CONNECTION_LOST the daemon sends (its SSH connection broke) is its answer, not a cut", async () => {
    await using dir = tempDir("client");
    const sock = join(dir.path, "d.sock");
    await using server = rawServer(sock, () => ({ events: [{ type: "error", error: { code: "CONNECTION_LOST", message: "SSH connection lost", retryable: true } }] }));
    await server.listening;
    const { client, calls } = recoveringClient(sock);
    const e = await failure(client.stream("POST", "/api/v1/workspaces/w/start", {}, () => {}));
    expect({ code: e.code, message: e.message, reach: reachOf(e) }).toEqual({ code: "CONNECTION_LOST", message: "SSH connection lost", reach: undefined });
    expect(calls).toEqual([]);
    expect(server.seen).toHaveLength(1);
  });

  test("a cut half way through the answer counts as a cut too", async () => {
    await using dir = tempDir("client");
    const sock = join(dir.path, "d.sock");
    await using server = rawServer(sock, (req, n) => (n === 1 || req.startsWith("PATCH") ? "half" : { status: 200, body: { ok: true } }));
    await server.listening;
    const { client, calls } = recoveringClient(sock);
    expect(await client.json("GET", "/api/v1/workspaces")).toEqual({ ok: true });
    const patch = await failure(client.json("PATCH", "/api/v1/workspaces/w", { idleTimeout: "1h" }));
    expect({ code: patch.code, reach: reachOf(patch) }).toEqual({ code: "DAEMON_UNREACHABLE", reach: "cut" });
    expect(calls).toEqual(["DAEMON_UNREACHABLE"]);
    expect(server.seen).toEqual(["GET /api/v1/workspaces", "GET /api/v1/workspaces", "PATCH /api/v1/workspaces/w"]);
  });

  test("it is sent again once only, and not at all when recover could not help", async () => {
    await using dir = tempDir("client");
    const sock = join(dir.path, "d.sock");
    await using server = rawServer(sock, () => "cut");
    await server.listening;
    const again = recoveringClient(sock);
    expect((await failure(again.client.json("POST", "/api/v1/workspaces/w/start", {}))).code).toBe("DAEMON_UNREACHABLE");
    expect(again.calls).toHaveLength(1);
    expect(server.seen).toHaveLength(2);
    const helpless = recoveringClient(sock, false);
    expect((await failure(helpless.client.json("POST", "/api/v1/workspaces/w/start", {}))).code).toBe("DAEMON_UNREACHABLE");
    expect(helpless.calls).toHaveLength(1);
    expect(server.seen).toHaveLength(3);
  });

  test("a DELETE sent again that finds nothing has done its work; one that was not cut still reports the 404", async () => {
    await using dir = tempDir("client");
    const sock = join(dir.path, "d.sock");
    await using server = rawServer(sock, (req, n) => (n === 1 ? "cut" : notFound));
    await server.listening;
    const { client, calls } = recoveringClient(sock);
    expect(await client.json("DELETE", "/api/v1/workspaces/w?force=true")).toBeUndefined();
    expect(calls).toEqual(["DAEMON_UNREACHABLE"]);
    expect((await failure(client.json("DELETE", "/api/v1/workspaces/w"))).code).toBe("WORKSPACE_NOT_FOUND");
    // Only a DELETE: a stop sent again still reports that the workspace is gone.
    expect((await failure(client.json("POST", "/api/v1/workspaces/w/stop", {}))).code).toBe("WORKSPACE_NOT_FOUND");
    expect(calls).toEqual(["DAEMON_UNREACHABLE"]);
  });

  test("a request that found no daemon is sent again once recover made one, a create included", async () => {
    await using dir = tempDir("client");
    const sock = join(dir.path, "d.sock");
    let server: ReturnType<typeof rawServer> | undefined;
    const client = new DaemonClient({
      socketPath: sock,
      recover: async (err) => {
        expect(reachOf(err)).toBe("refused");
        server = rawServer(sock, () => ({ status: 201, body: { id: "ws_1" } }));
        await server.listening;
        return true;
      },
    });
    try {
      expect(await client.json("POST", "/api/v1/workspaces", { name: "w" })).toEqual({ id: "ws_1" });
      expect(server?.seen).toEqual(["POST /api/v1/workspaces"]);
    } finally {
      await server?.[Symbol.asyncDispose]();
    }
  });

  test("a timeout is not sent again: the daemon is there, only slow", async () => {
    let requests = 0;
    await using s = serve(async () => {
      requests++;
      await sleep(500);
      return Response.json({});
    });
    const calls: string[] = [];
    const client = new DaemonClient({ url: s.url, recover: async (err) => (calls.push(err.code), true) });
    const e = await failure(client.json("GET", "/api/v1/workspaces", undefined, { timeoutMs: 50 }));
    expect({ code: e.code, reach: reachOf(e), message: e.message }).toEqual({ code: "DAEMON_UNREACHABLE", reach: "timeout", message: `The Nexus daemon at ${s.url} is not answering (timed out)` });
    // Never recovered nor sent again; on a loaded machine the one request may time out before the server even sees it.
    expect(calls).toEqual([]);
    expect(requests).toBeLessThanOrEqual(1);
  });
});
