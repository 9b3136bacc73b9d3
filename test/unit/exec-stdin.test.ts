// exec's stdin plumbing without a workspace: `-t`/`-i` after `exec` are exec's own flags, and the
// streamed exec body is read as a request line, then stdin chunks, resizes and end of file.
import { describe, expect, test } from "bun:test";
import { readStreamedExec } from "../../src/api/http/exec-input.ts";
import { execShortFlags } from "../../src/cli/cli.ts";
import type { StdinChunk } from "../../src/ssh/pool.ts";

function body(text: string, cut = 7): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += cut) c.enqueue(bytes.slice(i, i + cut));
      c.close();
    },
  });
}

async function all(it: AsyncIterable<StdinChunk>): Promise<StdinChunk[]> {
  const out: StdinChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe("exec flags", () => {
  test("-it, -ti, -t and -i after exec are --interactive/--tty; the global -t before it and words after -- are left alone", () => {
    expect(execShortFlags(["exec", "-it", "ws", "--", "bash"])).toEqual(["exec", "--interactive", "--tty", "ws", "--", "bash"]);
    expect(execShortFlags(["exec", "ws", "-t", "--", "ls", "-t"])).toEqual(["exec", "ws", "--tty", "--", "ls", "-t"]);
    expect(execShortFlags(["exec", "-i", "ws", "--", "cat"])).toEqual(["exec", "--interactive", "ws", "--", "cat"]);
    expect(execShortFlags(["exec", "-e", "A=1", "ws", "--", "x"])).toEqual(["exec", "-e", "A=1", "ws", "--", "x"]);
  });
});

describe("streamed exec body", () => {
  test("request line, then stdin, resize and eof, split anywhere", async () => {
    const text = JSON.stringify({ command: "cat" }) + "\n" + JSON.stringify({ stdin: Buffer.from("héllo\n").toString("base64") }) + "\n" + JSON.stringify({ resize: { cols: 100, rows: 30 } }) + "\n" + '{"eof":true}\n{"stdin":"eA=="}\n';
    const r = await readStreamedExec(body(text));
    expect(r.request).toEqual({ command: "cat" });
    const chunks = await all(r.stdin);
    expect(chunks).toEqual([Buffer.from("héllo\n"), { resize: { cols: 100, rows: 30 } }]);
  });

  test("the end of the body is end of input; a bad line is INVALID_ARGUMENT; an empty body too", async () => {
    const ok = await readStreamedExec(body('{"command":"cat"}\n{"stdin":"eA=="}'));
    expect(await all(ok.stdin)).toEqual([Buffer.from("x")]);
    const badLine = await readStreamedExec(body('{"command":"cat"}\nnot json\n'));
    await expect(all(badLine.stdin)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(readStreamedExec(body(""))).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(readStreamedExec(null)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
