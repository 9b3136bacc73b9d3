// Back-pressure from an exec's readers to its SSH channel: a reader that is behind pauses the output.
import type { ClientChannel } from "ssh2";
import type { ExecStreams, OutputAck } from "./pool.ts";

/** The two readable sides of an exec channel (ssh2's ClientChannel and its stderr). */
export type OutputChannel = Pick<ClientChannel, "on" | "pause" | "resume"> & { stderr: Pick<ClientChannel["stderr"], "on" | "once" | "pause" | "resume" | "readableEnded" | "destroyed"> };

/**
 * Hands the channel's stdout and stderr to the callbacks. While a callback's promise is pending both
 * streams are paused (they share the channel's window: stderr flowing would reopen it for stdout too),
 * so ssh2 buffers at most its window (2 MiB) and stops granting more; the command then blocks writing.
 * Once the signal aborts, output is read and thrown away so the channel can close. `ended` settles
 * when stderr has ended too: the channel's 'close' waits for stdout's end only.
 */
export function pausedWhileBehind(channel: OutputChannel, streams: Pick<ExecStreams, "onStdout" | "onStderr" | "signal">): { ended(): Promise<void> } {
  let behind = 0;
  const resume = () => {
    if (--behind > 0) return;
    channel.resume();
    channel.stderr.resume();
  };
  const deliver = (fn: ((chunk: Buffer) => OutputAck) | undefined) => (chunk: Buffer) => {
    if (!fn || streams.signal?.aborted) return;
    const ack = fn(chunk);
    if (!isThenable(ack)) return;
    if (behind++ === 0) {
      channel.pause();
      channel.stderr.pause();
    }
    ack.then(resume, resume);
  };
  channel.on("data", deliver(streams.onStdout));
  channel.stderr.on("data", deliver(streams.onStderr));
  // An abort must not wait for a reader that went away: the rest flows out unread.
  const flush = () => {
    behind = 0;
    channel.resume();
    channel.stderr.resume();
  };
  if (streams.signal?.aborted) flush();
  else streams.signal?.addEventListener("abort", flush, { once: true });
  const stderrEnded = new Promise<void>((resolve) => {
    const s = channel.stderr;
    if (s.readableEnded || s.destroyed) return resolve();
    s.once("end", () => resolve());
    s.once("close", () => resolve());
  });
  // Called once stdout has ended (the channel closed): an abort may still have to flush stderr until it ends.
  return { ended: () => stderrEnded.then(() => streams.signal?.removeEventListener("abort", flush)) };
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

