// A stand-in for the daemon on a unix socket, for the CLI's own request paths (src/cli/instant.ts,
// src/cli/exec-lane.ts): it records each request whole (its head, and the body its content-length
// declares) and writes back what `answer` gives for it, then ends the connection; when `answer`
// gives nothing, the connection is held open (a daemon still working) until the client ends it.
import { createServer, type Server, type Socket } from "node:net";

export interface StandInRequest {
  /** The request line and header fields, as sent. */
  head: string;
  method: string;
  /** The request target's path (Deno's fetch through a unix "proxy" writes the absolute form: http://host/path). */
  path: string;
  /** Field names in lower case. */
  headers: Record<string, string>;
  body: string;
}

export async function standInDaemon(socketPath: string, answer: (request: StandInRequest) => Buffer | string | undefined) {
  const requests: StandInRequest[] = [];
  const open = new Set<Socket>();
  const server: Server = createServer((sock) => {
    open.add(sock);
    sock.on("close", () => open.delete(sock));
    sock.on("error", () => {});
    let got = Buffer.alloc(0);
    sock.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = got.subarray(0, end).toString("latin1");
      const [line, ...fields] = head.split("\r\n");
      const headers: Record<string, string> = {};
      for (const f of fields) headers[f.slice(0, f.indexOf(":")).toLowerCase()] = f.slice(f.indexOf(":") + 1).trim();
      const length = Number(headers["content-length"] ?? 0);
      if (got.length < end + 4 + length) return;
      sock.removeAllListeners("data");
      const [method, target] = line!.split(" ");
      const request = { head, method: method!, path: target!.replace(/^http:\/\/[^/]+/, ""), headers, body: got.subarray(end + 4, end + 4 + length).toString("utf8") };
      requests.push(request);
      const reply = answer(request);
      if (reply !== undefined) sock.end(reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const close = async () => {
    // close() waits for every connection: a test that failed part way may have left one open.
    for (const sock of open) sock.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  /** Connections the client has not closed yet. */
  const openConnections = () => open.size;
  return { requests, openConnections, close, [Symbol.asyncDispose]: close };
}
