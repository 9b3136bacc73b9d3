// One splitter for every newline-delimited stream (NDJSON answers and request bodies, the engine's
// stats and events, service logs): bytes in, whole lines out, a line cut across chunks joined and a
// character cut across chunks decoded whole.

export class LineSplitter {
  readonly #decoder = new TextDecoder();
  #buffered = "";

  /** Takes the next chunk; answers the lines it completes, without their "\n". */
  push(chunk: Uint8Array | string): string[] {
    this.#buffered += typeof chunk === "string" ? chunk : this.#decoder.decode(chunk, { stream: true });
    const parts = this.#buffered.split("\n");
    this.#buffered = parts.pop()!;
    return parts;
  }

  /** The text after the last newline so far (a line still arriving). */
  get pending(): string {
    return this.#buffered;
  }

  /** At the end of the stream: the last line when it had no newline. */
  end(): string | undefined {
    const rest = this.#buffered + this.#decoder.decode();
    this.#buffered = "";
    return rest === "" ? undefined : rest;
  }
}

/** The non-blank lines of a byte stream, trimmed, as they come; the last one even without a newline. */
export async function* nonBlankLines(stream: AsyncIterable<Uint8Array | string>, maxPending = Infinity, tooLong?: () => Error): AsyncGenerator<string> {
  const split = new LineSplitter();
  for await (const chunk of stream) {
    for (const line of split.push(chunk)) if (line.trim()) yield line.trim();
    if (split.pending.length > maxPending) throw tooLong?.() ?? new Error(`A line is over ${maxPending} characters`);
  }
  const last = split.end()?.trim();
  if (last) yield last;
}
