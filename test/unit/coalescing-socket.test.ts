// The daemon's socket to sshd sends the pieces ssh2 writes for one packet as one write
// (src/ssh/coalescing-socket.ts), in order, and loses nothing at the end.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, Socket, type Server } from "node:net";
import { coalesceWrites } from "../../src/ssh/coalescing-socket.ts";

let server: Server;
let port = 0;
// Each connection the server takes hands what it received, once the client ended, to the next waiter.
const waiters: Array<(data: Buffer) => void> = [];

beforeAll(async () => {
  server = createServer((conn) => {
    const done = waiters.shift()!;
    const chunks: Buffer[] = [];
    conn.on("data", (c: Buffer) => chunks.push(c));
    conn.on("end", () => {
      done(Buffer.concat(chunks));
      conn.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(() => server.close());

/**
 * A connected socket with coalesceWrites, what the server receives on it, and the writes that reach
 * the runtime's own write: a write set on the socket afterwards (as Bun sets its own when it
 * connects) becomes the wrapper's inner one, so this one counts them and passes them on.
 */
async function connection(): Promise<{ sock: Socket; received: Promise<Buffer>; writes: string[] }> {
  const received = new Promise<Buffer>((resolve) => waiters.push(resolve));
  const sock = new Socket();
  coalesceWrites(sock);
  await new Promise<void>((resolve, reject) => {
    sock.once("error", reject);
    sock.connect({ host: "127.0.0.1", port }, resolve);
  });
  const writes: string[] = [];
  (sock as unknown as { write: unknown }).write = function (this: Socket, chunk: Uint8Array | string, ...rest: unknown[]): boolean {
    writes.push(Buffer.from(chunk).toString());
    return (Socket.prototype.write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  };
  return { sock, received, writes };
}

describe("coalesceWrites", () => {
  test("buffers written in one go reach the socket as one write, in order", async () => {
    const { sock, received, writes } = await connection();
    sock.write(Buffer.from("len:"));
    sock.write(Buffer.from("payload"));
    sock.write(Buffer.from(":tag"));
    expect(writes).toEqual([]); // held until this task's microtasks end
    await Promise.resolve();
    expect(writes).toEqual(["len:payload:tag"]);
    // The next packet, later, is a write of its own.
    sock.write(Buffer.from("next"));
    await new Promise((r) => setTimeout(r, 0));
    expect(writes).toEqual(["len:payload:tag", "next"]);
    // What is held when the socket is ended goes out before the end.
    sock.write(Buffer.from("bye"));
    sock.end();
    expect((await received).toString()).toBe("len:payload:tagnextbye");
  });

  test("a write with a callback, or a string, sends what is held first, then itself", async () => {
    const { sock, received, writes } = await connection();
    sock.write(Buffer.from("a"));
    sock.write(Buffer.from("b"));
    await new Promise<void>((resolve) => sock.write(Buffer.from("c"), () => resolve()));
    sock.write(Buffer.from("d"));
    sock.write("e");
    sock.end();
    expect((await received).toString()).toBe("abcde");
    expect(writes).toEqual(["ab", "c", "d", "e"]);
  });
});
