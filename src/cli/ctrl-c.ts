// Ctrl-C for the commands that follow a daemon's stream into our stdout (`nexus sessions logs -f`,
// `nexus services logs -f`): the follow ends whatever stdout holds.
import { dropUnwritten } from "../runtime/stdio.ts";

export interface CtrlC {
  /** Aborts at Ctrl-C: pass it to client.stream and untilAborted. */
  signal: AbortSignal;
  /** Stops listening for Ctrl-C. */
  release(): void;
}

/**
 * Listens for one Ctrl-C: what stdout and stderr do not hold yet is dropped (a full pipe nobody
 * reads would hold the exit for ever; dropUnwritten), then the signal aborts.
 */
export function abortOnCtrlC(): CtrlC {
  const abort = new AbortController();
  const onSigint = () => {
    dropUnwritten();
    abort.abort();
  };
  process.once("SIGINT", onSigint);
  return { signal: abort.signal, release: () => process.off("SIGINT", onSigint) };
}
