// The headers of every request the CLI sends its daemon, in one place: the full client (client.ts)
// and the short commands' own path (instant.ts) send the same ones.
import { CLIENT_HEADER } from "../kernel/trace.ts";

export interface RequestOptions {
  /** What the answer may be (the Accept header). */
  accept: string;
  /** The body's type, when there is a body. */
  contentType?: string;
  /** A daemon reached over TCP (-u/--url) takes a bearer token. */
  token?: string;
  /** The daemon build (version+commit) this client expects; another build answers VERSION_MISMATCH. */
  expectVersion?: string;
}

export function requestHeaders(opts: RequestOptions): Record<string, string> {
  // The operation history tells the CLI's calls from other REST clients' by CLIENT_HEADER.
  const headers: Record<string, string> = { accept: opts.accept, [CLIENT_HEADER]: "cli" };
  if (opts.contentType) headers["content-type"] = opts.contentType;
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.expectVersion) headers["x-nexus-expect-version"] = opts.expectVersion;
  return headers;
}
