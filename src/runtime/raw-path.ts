// Request paths as the client sent them. Bun builds `request.url` with the URL parser, which resolves
// `.` and `..` segments, `%2e` spellings included (`/ws/services/%2e%2e/restart` reaches
// `/ws/restart`), and reads `\` as `/`: the router then sees a path the client never named. The raw
// segments are still seen by Bun's own route table (each decoded once), so the server checks them
// there and refuses such a path before the app runs. The API's ids and names never need any of this.

/** Deepest path the daemon serves, in segments (its longest route has 7); deeper paths are refused. */
export const MAX_PATH_SEGMENTS = 16;

/** Why a path with these raw segments (each percent-decoded once) is refused; undefined when it is fine. */
export function refusedSegment(segments: readonly string[]): string | undefined {
  for (const s of segments) {
    if (s === "." || s === "..") return "a '.' or '..' segment (percent-encoded or not)";
    if (/[/\\\0]/.test(s)) return "an encoded '/', '\\' or NUL inside a segment";
    if (/%(2e|2f|5c|00)/i.test(s)) return "a double percent-encoding of '.', '/', '\\' or NUL";
  }
  return undefined;
}

/** The INVALID_ARGUMENT answer (the spec's error envelope) for a refused path. */
export function refusedPathBody(reason: string): string {
  return JSON.stringify({
    error: {
      code: "INVALID_ARGUMENT",
      message: `The request path holds ${reason}`,
      suggestion: "Name each id or name as it is, without '.', '..', '/' or '\\' segments or their percent-encoded forms",
      retryable: false,
    },
  });
}

/**
 * Why a raw request target (`/a/b?q`, or the absolute form `http://host/a/b?q`) is refused, by the
 * rules Bun's route table applies (bun.ts): an empty segment, a trailing '/', too many segments, or
 * a segment refusedSegment names; undefined when it is fine. For servers whose `request.url` is the
 * target as sent (Deno's), so the check runs before anything parses and normalises it.
 */
export function refusedRawTarget(url: string): { canonical: false } | { reason: string } | undefined {
  const target = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "");
  const path = target.split(/[?#]/, 1)[0]!;
  if (path === "/") return undefined;
  if (!path.startsWith("/")) return { canonical: false };
  const raw = path.slice(1).split("/");
  if (raw.length > MAX_PATH_SEGMENTS || raw.some((s) => s === "")) return { canonical: false };
  const reason = refusedSegment(raw.map(decodeOnce));
  return reason === undefined ? undefined : { reason };
}

/** A segment percent-decoded once; a malformed escape stays as sent (it cannot spell '.', '/', '\' or NUL). */
function decodeOnce(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
