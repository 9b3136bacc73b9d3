// The CLI's typed client against real HTTP servers in this process (the app, or a small server that
// misbehaves on purpose). Nothing here reaches Docker or SSH.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DaemonClient, type StreamEvent } from "../../src/cli/client.ts";
import { NexusError } from "../../src/core/errors.ts";
import { bunRuntime } from "../../src/runtime/bun.ts";
import { tempDir } from "../helpers/fixtures.ts";

type Handler = (req: Request) => Response | Promise<Response>;

/** A TCP server on 127.0.0.1 (a free port) that stops itself on dispose. */
function serve(fetch: Handler) {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch });
  return { url: `http://127.0.0.1:${server.port}`, [Symbol.asyncDispose]: async () => void server.stop(true) };
}

async function failure(p: Promise<unknown>): Promise<NexusError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NexusError);
  return err as NexusError;
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
    const server = await bunRuntime.serveUnix(sock, (req) => Response.json({ path: new URL(req.url).pathname }));
    try {
      expect(await new DaemonClient({ socketPath: sock }).json("GET", "/api/v1/version")).toEqual({ path: "/api/v1/version" });
    } finally {
      await server.stop();
    }
  });

  test("a timeout is DAEMON_UNREACHABLE rather than a hang", async () => {
    await using s = serve(async () => {
      await Bun.sleep(2000);
      return Response.json({});
    });
    const started = Date.now();
    const e = await failure(new DaemonClient({ url: s.url }).json("GET", "/slow", undefined, { timeoutMs: 100 }));
    expect(e.code).toBe("DAEMON_UNREACHABLE");
    expect(Date.now() - started).toBeLessThan(1500);
  });
});

describe("DaemonClient.stream", () => {
  test("delivers events in order and resolves with the result", async () => {
    await using s = serve((req) => {
      expect(req.headers.get("accept")).toBe("application/x-ndjson");
      return ndjson([
        { type: "progress", message: "one" },
        { type: "stdout", data: "aGk=" },
        { type: "result", exitCode: 0 },
      ]);
    });
    const events: StreamEvent[] = [];
    const result = await new DaemonClient({ url: s.url }).stream("POST", "/x", {}, (e) => events.push(e));
    expect(events).toEqual([
      { type: "progress", message: "one" },
      { type: "stdout", data: "aGk=" },
    ]);
    expect(result).toEqual({ type: "result", exitCode: 0 });
  });

  test("lines split across chunks are put back together", async () => {
    await using s = serve(() => {
      const text = '{"type":"progress","message":"hé"}\n{"type":"res' + 'ult","ok":true}\n';
      const bytes = new TextEncoder().encode(text);
      const body = new ReadableStream<Uint8Array>({
        async start(c) {
          for (let i = 0; i < bytes.length; i += 7) {
            c.enqueue(bytes.subarray(i, i + 7));
            await Bun.sleep(1);
          }
          c.close();
        },
      });
      return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
    });
    const events: StreamEvent[] = [];
    const result = await new DaemonClient({ url: s.url }).stream("POST", "/x", {}, (e) => events.push(e));
    expect(events).toEqual([{ type: "progress", message: "hé" }]);
    expect(result).toEqual({ type: "result", ok: true });
  });

  test("an error event becomes its NexusError", async () => {
    await using s = serve(() => ndjson([{ type: "progress" }, { type: "error", error: { code: "BACKEND_UNAVAILABLE", message: "no engine", retryable: true } }]));
    const e = await failure(new DaemonClient({ url: s.url }).stream("POST", "/x", {}, () => {}));
    expect(e.code).toBe("BACKEND_UNAVAILABLE");
    expect(e.message).toBe("no engine");
  });

  test("an HTTP error before the stream becomes its NexusError", async () => {
    await using s = serve(() => Response.json({ error: { code: "INVALID_ARGUMENT", message: "bad name", retryable: false } }, { status: 400 }));
    const e = await failure(new DaemonClient({ url: s.url }).stream("POST", "/x", {}, () => {}));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toBe("bad name");
  });

  test("a stream that ends without a result is CONNECTION_LOST", async () => {
    await using s = serve(() => ndjson([{ type: "progress", message: "working" }]));
    const e = await failure(new DaemonClient({ url: s.url }).stream("POST", "/x", {}, () => {}));
    expect(e.code).toBe("CONNECTION_LOST");
  });

  test("blank and garbage lines are skipped", async () => {
    await using s = serve(() => new Response('\n   \nnot json\n{"type":"result","n":1}\n'));
    expect(await new DaemonClient({ url: s.url }).stream("POST", "/x", {}, () => {})).toEqual({ type: "result", n: 1 });
  });
});
