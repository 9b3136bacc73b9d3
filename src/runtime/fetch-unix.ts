// fetch() over a unix socket with the runtime's own client: the CLI's way to the local daemon. Its own
// module so that a short command (version, list, exec) does not load the runtime's server adapter
// (bun.ts, deno.ts: request guards, path checks, node:fs under Deno) just to send one request.

declare const Deno: {
  createHttpClient(opts: { proxy: { transport: "unix"; path: string } }): { close(): void };
};

export function fetchUnix(socketPath: string, url: string, init: RequestInit): Promise<Response> {
  if ("Deno" in globalThis) return denoFetchUnix(socketPath, url, init);
  if ("Bun" in globalThis) return fetch(url, { ...init, unix: socketPath } as RequestInit);
  return Promise.reject(new Error("nexus runs on Bun or Deno"));
}

async function denoFetchUnix(socketPath: string, url: string, init: RequestInit): Promise<Response> {
  // Deno resolves the URL's host name even when the connection goes to a unix socket: a name like
  // "nexus" costs a DNS query (5 s per request where DNS answers slowly or not at all). An IP
  // literal needs no lookup; the daemon does not look at the Host header.
  const target = new URL(url);
  target.hostname = "127.0.0.1";
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socketPath } });
  let res: Response;
  try {
    res = await fetch(target, { ...init, client } as RequestInit);
  } catch (err) {
    client.close();
    throw err;
  }
  if (!res.body) {
    client.close();
    return res;
  }
  // Each client holds its own connection (a file descriptor) until closed: close it once the body
  // is read to the end, fails, or is cancelled.
  let open = true;
  const close = () => {
    if (open) {
      open = false;
      client.close();
    }
  };
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          close();
          controller.close();
        } else controller.enqueue(value);
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    async cancel(reason) {
      try {
        await reader.cancel(reason);
      } finally {
        close();
      }
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}
