// The streamed form of POST /workspaces/{id}/exec (an extension): a request body of NDJSON lines,
// read while the answer streams. The first line is the exec request (the JSON body's fields); then
//   {"stdin":"<base64>"}              bytes for the command's standard input
//   {"resize":{"cols":N,"rows":N}}    a new size of its pseudo-terminal (with "tty")
//   {"eof":true}                      end of input (the end of the body means the same)
import { NexusError } from "../../core/errors.ts";
import type { StdinChunk } from "../../ssh/pool.ts";
import { nonBlankLines } from "../../kernel/lines.ts";

/** One line of the body may hold at most this much (base64 of the client's read size is far less). */
const MAX_LINE_BYTES = 1024 * 1024;

export function isStreamedExec(contentType: string | undefined): boolean {
  return !!contentType && contentType.includes("application/x-ndjson");
}

/** The body's lines as they come. */
function lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  return nonBlankLines(body as unknown as AsyncIterable<Uint8Array>, MAX_LINE_BYTES, () => bad(`A line of the exec request body is over ${MAX_LINE_BYTES} bytes`));
}

function bad(message: string): NexusError {
  return new NexusError("INVALID_ARGUMENT", message, {
    suggestion: 'Send the exec request as the first line, then {"stdin":"<base64>"}, {"resize":{"cols":80,"rows":24}} or {"eof":true} lines',
  });
}

function parse(line: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(line);
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw bad("A line of the exec request body is not a JSON object");
}

/** Reads the request line, and gives the rest of the body as stdin chunks; `stop` ends reading. */
export async function readStreamedExec(body: ReadableStream<Uint8Array> | null): Promise<{ request: unknown; stdin: AsyncIterable<StdinChunk>; stop: () => void }> {
  if (!body) throw bad("The exec request body is empty");
  const it = lines(body);
  const first = await it.next();
  if (first.done) throw bad("The exec request body is empty");
  const request = parse(first.value);
  let stopped = false;
  async function* stdin(): AsyncGenerator<StdinChunk> {
    for (;;) {
      const next = await it.next();
      if (next.done || stopped) return;
      const msg = parse(next.value);
      if (msg.eof === true) return;
      if (typeof msg.stdin === "string") yield Buffer.from(msg.stdin, "base64");
      else if (msg.resize && typeof msg.resize === "object") {
        const { cols, rows } = msg.resize as { cols?: unknown; rows?: unknown };
        if (Number.isInteger(cols) && Number.isInteger(rows) && (cols as number) > 0 && (rows as number) > 0) yield { resize: { cols: cols as number, rows: rows as number } };
      } else throw bad("Unknown line in the exec request body");
    }
  }
  return {
    request,
    stdin: stdin(),
    stop: () => {
      stopped = true;
      void it.return(undefined).catch(() => {});
      void body.cancel().catch(() => {});
    },
  };
}
