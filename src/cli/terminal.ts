// The interactive attach: this terminal becomes a client of a session, over the daemon's WebSocket
// (session.attach / session.input / session.resize). The detach key never reaches the session: it
// ends this client and leaves the session running.
import { readFileSync } from "node:fs";
import { NexusError } from "../core/errors.ts";
import { EXIT_CODES } from "./exit-codes.ts";
import type { AttachEnd } from "../core/sessions/types.ts";
import { streamStdout } from "../runtime/stdio.ts";
import type { CliContext } from "./context.ts";
import { dim, writeErr } from "./output.ts";
import { pausingWriter } from "./unwritten.ts";

export const DEFAULT_DETACH_KEY = "ctrl-\\";

/** `ctrl-<c>` (c in a-z, @, [, \, ], ^, _) to its control byte; Ctrl-\ by default. */
export function parseDetachKey(spec: string | undefined): number {
  const s = (spec ?? process.env.NEXUS_DETACH_KEY ?? DEFAULT_DETACH_KEY).trim().toLowerCase();
  const m = /^(?:ctrl|c)-(.)$/.exec(s) ?? /^\^(.)$/.exec(s);
  const ch = m?.[1];
  if (ch !== undefined) {
    const code = ch.toUpperCase().charCodeAt(0);
    // Ctrl-[ is Escape and Ctrl-M Enter: they would fire on ordinary keys.
    if (code >= 0x40 && code <= 0x5f && code !== 0x5b && code !== 0x4d) return code - 0x40;
  }
  throw new NexusError("INVALID_ARGUMENT", `Detach key '${spec}' is not a control key this terminal can send`, {
    suggestion: "Use ctrl-<letter> or ctrl-\\, ctrl-], ctrl-^, ctrl-_ (default ctrl-\\)",
    details: { detachKey: spec },
  });
}

export function detachKeyName(byte: number): string {
  return `Ctrl-${String.fromCharCode(byte + 0x40)}`;
}

/** Attaches this terminal to a session until the detach key, the command's end or a kill; resolves with the exit code. */
export async function attachTerminal(ctx: CliContext, sessionId: string, opts: { detachKey: number; announce?: string }): Promise<number> {
  const { default: WebSocket } = await import("ws");
  const target = (await ctx.client()).target;
  const url = target.url ? `${target.url.replace(/^http/, "ws").replace(/\/$/, "")}/v1/ws` : `ws+unix://${target.socketPath}:/v1/ws`;
  const token = target.token ?? readToken(ctx.paths.token);
  const ws = new WebSocket(url);
  const stdin = process.stdin;
  const stdout = process.stdout;
  const tty = stdin.isTTY === true;
  let end: AttachEnd | undefined;
  let failure: NexusError | undefined;
  const size = () => ({ cols: clamp(stdout.columns ?? 80, 20, 1000), rows: clamp(stdout.rows ?? 24, 5, 500) });
  const send = (m: object) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
  };

  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", (err: Error) => reject(new NexusError("DAEMON_UNREACHABLE", `Could not open the daemon's WebSocket: ${err.message}`, { suggestion: "Run 'nexus doctor'" })));
  });
  if (opts.announce && process.stderr.isTTY) await writeErr(dim(`[attached to ${opts.announce}; ${detachKeyName(opts.detachKey)} detaches]\r\n`, true));
  // A stdout that is behind (a pipe nobody reads) stops the WebSocket's reading; the daemon then
  // pauses the terminal. Stdin is read meanwhile: the detach key works while stdout is full.
  const out = pausingWriter(streamStdout(), ws);
  const finished = new Promise<void>((resolve) => {
    ws.on("message", (raw: Buffer) => {
      let m: { id?: string | null; type?: string; success?: boolean; payload?: { data?: string } & Partial<AttachEnd>; error?: { code: string; message: string; suggestion?: string } };
      try {
        m = JSON.parse(String(raw));
      } catch {
        return;
      }
      if (m.type === "session.output" && typeof m.payload?.data === "string") out.write(m.payload.data);
      else if (m.type === "session.exit") end = m.payload as AttachEnd;
      else if (m.id === "attach" && m.success === false && m.error) failure = NexusError.fromBody({ ...m.error, retryable: false } as never);
      else if (m.id === "attach" && m.success === true) ws.close();
      else if (m.id === "auth" && m.success === false && m.error) failure = NexusError.fromBody({ ...m.error, retryable: false } as never);
      if (failure) ws.close();
    });
    ws.on("close", () => resolve());
  });

  const onInput = (b: Buffer) => {
    const at = b.indexOf(opts.detachKey);
    if (at >= 0) {
      if (at > 0) send({ type: "session.input", payload: { sessionId, data: b.subarray(0, at).toString("base64"), encoding: "base64" } });
      send({ id: "detach", type: "session.detach", payload: { sessionId } });
      return;
    }
    send({ type: "session.input", payload: { sessionId, data: b.toString("base64"), encoding: "base64" } });
  };
  const onResize = () => send({ type: "session.resize", payload: { sessionId, ...size() } });
  send({ id: "auth", type: "auth", token });
  send({ id: "attach", type: "session.attach", payload: { sessionId, ...size(), ...(process.env.TERM ? { term: process.env.TERM } : {}) } });
  if (tty) stdin.setRawMode(true);
  stdin.on("data", onInput);
  stdin.resume();
  stdout.on("resize", onResize);
  try {
    await finished;
  } finally {
    stdin.off("data", onInput);
    stdout.off("resize", onResize);
    if (tty) stdin.setRawMode(false);
    stdin.pause();
  }
  // The CLI exits right after: what stdout still holds would be lost.
  await out.flushed();
  if (failure) throw failure;
  if (!end) throw new NexusError("CONNECTION_LOST", "The daemon closed the connection while attached", { suggestion: `The session runs on: 'nexus sessions attach ${sessionId}'` });
  const color = process.stderr.isTTY === true;
  if (end.reason === "detached") {
    await writeErr(dim(`\r\n[detached from ${sessionId}; 'nexus sessions attach ${sessionId}' comes back]\r\n`, color));
    return EXIT_CODES.ok;
  }
  if (end.reason === "killed") {
    await writeErr(dim(`\r\n[${sessionId} was killed]\r\n`, color));
    return EXIT_CODES.error;
  }
  await writeErr(dim(`\r\n[${sessionId} exited with code ${end.exitCode}]\r\n`, color));
  return end.exitCode ?? EXIT_CODES.error;
}

function readToken(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    throw new NexusError("AUTHENTICATION_FAILED", `Cannot read the daemon token ${file}`, { suggestion: "Is the daemon running as you? 'nexus doctor' explains more" });
  }
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.floor(n)));
}
