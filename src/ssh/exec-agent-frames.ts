// The exec agent's wire (exec-agent-command.py says it in full): frames of a type byte, a 4-byte big-endian
// length and the payload. Everything the agent sends is checked here: it comes from inside the
// workspace, so a frame past MAX_FRAME, an unknown type or a malformed status is a broken connection.
import type { ExecExit } from "./pool.ts";
import type { PlainCommand } from "./quote.ts";

/** The largest frame either side sends (the agent reads output 64 KiB at a time). */
export const MAX_FRAME = 1 << 20;

export type AgentFrame =
  | { kind: "accepted" }
  | { kind: "started"; pid: number }
  | { kind: "refused"; message: string }
  | { kind: "stdout"; data: Buffer }
  | { kind: "stderr"; data: Buffer }
  /** kept: the connection now waits for the next request (asked for with the request's keep). */
  | { kind: "exit"; exit: ExecExit; kept: boolean }
  | { kind: "killed" };

export class AgentProtocolError extends Error {}

export function encodeFrame(type: "R" | "K" | "I" | "E", payload: Uint8Array = new Uint8Array(0)): Buffer {
  if (payload.length > MAX_FRAME) throw new AgentProtocolError(`a frame of ${payload.length} bytes is larger than ${MAX_FRAME}`);
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** A request frame: run `line` (the command tagged `tag`), or kill what runs with `tag`. */
export function requestFrame(type: "R" | "K", body: { line?: string; tag: string; plain?: PlainCommand; startNow?: boolean; keep?: boolean }): Buffer {
  return encodeFrame(type, Buffer.from(JSON.stringify(body)));
}

/** Stdin as frames no larger than MAX_FRAME. */
export function stdinFrames(data: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += MAX_FRAME) out.push(encodeFrame("I", data.subarray(at, at + MAX_FRAME)));
  return out;
}

/** Signal names the SSH path reports too (pool.ts): the exit code is 128 + the number. */
const SIGNAL_NAME = /^[A-Z0-9]{1,12}$/;

function parseJson(payload: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(payload.toString("utf8"));
  } catch {
    throw new AgentProtocolError("a status frame that is not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new AgentProtocolError("a status frame that is not an object");
  return v as Record<string, unknown>;
}

function parseFrame(type: string, payload: Buffer, signalNumber: (name: string) => number): AgentFrame {
  switch (type) {
    case "o":
      return { kind: "stdout", data: payload };
    case "e":
      return { kind: "stderr", data: payload };
    case "k":
      return { kind: "killed" };
    case "a":
      return { kind: "accepted" };
    case "s": {
      const pid = parseJson(payload).pid;
      if (!Number.isInteger(pid) || (pid as number) <= 0) throw new AgentProtocolError("a start frame without a pid");
      return { kind: "started", pid: pid as number };
    }
    case "f": {
      const message = parseJson(payload).message;
      return { kind: "refused", message: typeof message === "string" ? message.slice(0, 500) : "the command could not start" };
    }
    case "x": {
      const v = parseJson(payload);
      const kept = v.keep === true;
      if (Number.isInteger(v.code) && (v.code as number) >= 0 && (v.code as number) <= 255) return { kind: "exit", exit: { exitCode: v.code as number }, kept };
      if (typeof v.signal === "string" && SIGNAL_NAME.test(v.signal)) return { kind: "exit", exit: { exitCode: 128 + signalNumber(v.signal), signal: v.signal }, kept };
      throw new AgentProtocolError("an exit frame with neither an exit code (0-255) nor a signal name");
    }
    default:
      throw new AgentProtocolError(`an unknown frame type ${JSON.stringify(type)}`);
  }
}

/** Cuts the agent's byte stream into frames; throws AgentProtocolError on anything malformed. */
export class FrameDecoder {
  #buf: Buffer = Buffer.alloc(0);
  readonly #signalNumber: (name: string) => number;

  constructor(signalNumber: (name: string) => number) {
    this.#signalNumber = signalNumber;
  }

  push(chunk: Buffer): AgentFrame[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const frames: AgentFrame[] = [];
    while (this.#buf.length >= 5) {
      const size = this.#buf.readUInt32BE(1);
      if (size > MAX_FRAME) throw new AgentProtocolError(`a frame of ${size} bytes is larger than ${MAX_FRAME}`);
      if (this.#buf.length < 5 + size) break;
      const type = String.fromCharCode(this.#buf[0]!);
      const payload = Buffer.from(this.#buf.subarray(5, 5 + size));
      this.#buf = this.#buf.subarray(5 + size);
      frames.push(parseFrame(type, payload, this.#signalNumber));
    }
    return frames;
  }

  /** Bytes of a frame that has not fully arrived. */
  get partial(): number {
    return this.#buf.length;
  }
}
