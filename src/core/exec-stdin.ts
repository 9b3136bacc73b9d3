// Standard input of an exec: given whole in the request (`stdin`, REST/WebSocket/gRPC), or as a
// stream (the CLI's streamed REST exec). Without either it is closed at once, so no caller hangs.
import type { ExecStreams } from "../ssh/pool.ts";
import type { ExecInput } from "./inputs.ts";

export function execStdin(input: ExecInput, streamed: ExecStreams["stdin"]): Pick<ExecStreams, "stdin" | "tty"> {
  const stdin = streamed ?? (input.stdin !== undefined ? Buffer.from(input.stdin, input.stdinEncoding === "base64" ? "base64" : "utf8") : undefined);
  return {
    ...(stdin !== undefined ? { stdin } : {}),
    ...(input.tty ? { tty: { cols: input.tty.cols, rows: input.tty.rows, ...(input.tty.term ? { term: input.tty.term } : {}) } } : {}),
  };
}
