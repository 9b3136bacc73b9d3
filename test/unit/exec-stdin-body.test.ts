// `nexus exec`'s standard input as a streamed request body: read from the runtime's own reader, sent
// line by line, and sent again whole when the first attempt is turned away (a daemon of another
// version answers before reading anything). Real HTTP servers in this process; no Docker.
import { describe, expect, test } from "bun:test";
import { DaemonClient, type StreamEvent } from "../../src/cli/client.ts";
import { stdinBody, type ResendableBody } from "../../src/cli/exec-stdin.ts";
import { NexusError } from "../../src/core/errors.ts";
import { serveLocal } from "../helpers/serve.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

/** A byte stream that yields `chunks` one per pull, then ends; counts the pulls. */
function source(chunks: Uint8Array[]) {
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      pulls++;
      const next = chunks.shift();
      if (next) c.enqueue(next);
      else c.close();
    },
  });
  return { stream, pulls: () => pulls };
}

async function lines(stream: ReadableStream<Uint8Array>): Promise<Record<string, unknown>[]> {
  const text = await new Response(stream).text();
  return text
    .split("\n")
    .filter((l) => l)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const stdinOf = (ls: Record<string, unknown>[]) =>
  ls
    .filter((l) => typeof l.stdin === "string")
    .map((l) => Buffer.from(l.stdin as string, "base64").toString())
    .join("");

function resendable(body: ReadableStream<Uint8Array> | ResendableBody): ResendableBody {
  if (body instanceof ReadableStream) throw new Error("expected a resendable body");
  return body;
}

describe("stdin from the runtime's reader", () => {
  test("the request line, each chunk as one line, then eof", async () => {
    const src = source([bytes("one\n"), bytes("two\n")]);
    const { body } = stdinBody({ command: "wc" }, { raw: false, resize: false }, src.stream);
    const ls = await lines(resendable(body).fresh());
    expect(ls[0]).toEqual({ command: "wc" });
    expect(stdinOf(ls)).toBe("one\ntwo\n");
    expect(ls.at(-1)).toEqual({ eof: true });
  });

  test("stdin is read only as the request is sent, not ahead", async () => {
    const src = source([bytes("a"), bytes("b"), bytes("c")]);
    const { body } = stdinBody({ command: "cat" }, { raw: false, resize: false }, src.stream);
    const reader = resendable(body).fresh().getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('"command":"cat"');
    await reader.read();
    // The reader asks one step ahead at most: three chunks plus the end are not all read yet.
    expect(src.pulls()).toBeLessThan(4);
    await reader.cancel();
  });

  test("a second attempt replays what the first sent, then goes on reading where it stopped", async () => {
    const src = source([bytes("first "), bytes("second "), bytes("third")]);
    const { body } = stdinBody({ command: "cat" }, { raw: false, resize: false }, src.stream);
    const r = resendable(body);
    const first = r.fresh().getReader();
    await first.read(); // the request line
    await first.read(); // "first "
    await first.cancel();
    const ls = await lines(r.fresh());
    expect(ls[0]).toEqual({ command: "cat" });
    expect(stdinOf(ls)).toBe("first second third");
    expect(ls.filter((l) => l.eof)).toHaveLength(1);
  });

  test("past the kept amount a second attempt is refused with a clear error, never a silent gap", async () => {
    const big = new Uint8Array(700 * 1024).fill(120);
    const src = source([big, big, bytes("end")]);
    const { body } = stdinBody({ command: "cat" }, { raw: false, resize: false }, src.stream);
    const r = resendable(body);
    const first = r.fresh().getReader();
    for (let i = 0; i < 3; i++) await first.read();
    let err: unknown;
    try {
      r.fresh();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NexusError);
    expect((err as NexusError).code).toBe("CONNECTION_LOST");
    expect((err as NexusError).suggestion).toContain("Run the command again");
  });

  test("a daemon of another version turns the first attempt away; the one started after it gets all of stdin", async () => {
    let attempt = 0;
    const server = serveLocal(async (req) => {
      attempt++;
      if (attempt === 1) {
        return Response.json({ error: { code: "VERSION_MISMATCH", message: "another build", retryable: true } }, { status: 409 });
      }
      const got = stdinOf(await lines(req.body!));
      const out = { type: "stdout", data: Buffer.from(got).toString("base64") };
      return new Response(JSON.stringify(out) + "\n" + JSON.stringify({ type: "result", exitCode: 0 }) + "\n", { headers: { "content-type": "application/x-ndjson" } });
    });
    try {
      let recovered = 0;
      const client = new DaemonClient({
        url: `http://127.0.0.1:${server.port}`,
        recover: async () => {
          recovered++;
          return true;
        },
      });
      const src = source([bytes("1\n2\n"), bytes("3\n")]);
      const { body } = stdinBody({ command: "wc" }, { raw: false, resize: false }, src.stream);
      const events: StreamEvent[] = [];
      const result = await client.stream("POST", "/api/v1/workspaces/w/exec", body, (e) => events.push(e));
      expect(recovered).toBe(1);
      expect(result.exitCode).toBe(0);
      expect(Buffer.from(String(events[0]!.data), "base64").toString()).toBe("1\n2\n3\n");
    } finally {
      await server.stop();
    }
  });
});
