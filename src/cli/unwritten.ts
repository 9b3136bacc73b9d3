// Back-pressure from our own stdout to a daemon stream (`nexus exec`, `nexus services logs -f`, `nexus sessions logs -f`):
// a promise returned to client.stream's onEvent holds the next read, and the daemon then pauses the source.

/** Output handed to stdout/stderr but not written yet, before the CLI stops reading more. */
export const MAX_UNWRITTEN_BYTES = 1024 * 1024;

/**
 * Marks the output handed to a writer every `every` bytes; when the previous mark is not written yet
 * by the next one, `wrote` answers its promise (the caller returns it from onEvent). One promise per
 * mark rather than per line or chunk; at most about two marks' worth is held.
 */
export function unwrittenMarks(every = MAX_UNWRITTEN_BYTES): (done: Promise<void>, bytes: number) => Promise<void> | undefined {
  let sinceMark = 0;
  let mark: { written: boolean; done: Promise<void> } | undefined;
  return (done, bytes) => {
    sinceMark += bytes;
    if (sinceMark < every) return undefined;
    sinceMark = 0;
    const previous = mark;
    const next = { written: false, done };
    void done.then(() => void (next.written = true), () => void (next.written = true));
    mark = next;
    return previous && !previous.written ? previous.done : undefined;
  };
}
