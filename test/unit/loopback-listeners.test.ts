// The daemon's loopback listeners for a remote engine's ports (docker/remote/listeners.ts): each
// connection they accept is TCP_NODELAY (Deno's accepted node:net sockets are not by default) and
// piped both ways into the stream the engine's transport opens for it.
import { afterEach, expect, test } from "bun:test";
import { connect, Socket } from "node:net";
import { Duplex } from "node:stream";
import { LoopbackListeners } from "../../src/docker/remote/listeners.ts";
import { freePort } from "../helpers/ports.ts";

const setNoDelay = Socket.prototype.setNoDelay;
afterEach(() => void (Socket.prototype.setNoDelay = setNoDelay));

test("an accepted connection is set TCP_NODELAY and piped into the stream opened for it", async () => {
  // Which sockets were set, by their local port (the kernel's flag cannot be read from here).
  const set: Array<{ port: number | undefined; on: boolean | undefined }> = [];
  Socket.prototype.setNoDelay = function (this: Socket, on?: boolean) {
    set.push({ port: this.localPort, on });
    return setNoDelay.call(this, on);
  };
  const port = await freePort();
  const listeners = new LoopbackListeners();
  try {
    // The engine's end: answers what it is sent, upper-cased.
    const upper = () =>
      Promise.resolve(
        new Duplex({
          read() {},
          write(chunk: Buffer, _enc, done) {
            this.push(chunk.toString().toUpperCase());
            done();
          },
        }),
      );
    await listeners.listen(port, upper);
    const client = connect({ host: "127.0.0.1", port });
    const answer = await new Promise<string>((resolve, reject) => {
      client.once("error", reject);
      client.once("data", (b: Buffer) => resolve(b.toString()));
      client.write("ping");
    });
    client.destroy();
    expect(answer).toBe("PING");
    // The accepted socket (local port: the listener's), not only the test's client.
    expect(set.filter((s) => s.port === port)).toEqual([{ port, on: true }]);
  } finally {
    listeners.close();
  }
});
