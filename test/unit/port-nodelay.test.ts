// The TCP sockets carrying a workspace's ports that the daemon accepts (a port forward, `nexus proxy`:
// core/forward-pipe.ts) or the CLI opens (`nexus ssh-proxy`, ssh's ProxyCommand: cli/ssh-proxy.ts)
// are TCP_NODELAY: Deno's node:net sockets are not by default (Bun's are), and a reply written in two
// writes had its second wait for the client's delayed ACK. The kernel's flag cannot be read from here,
// so setNoDelay is recorded, by the socket's local port; the bytes must still go both ways.
import { afterEach, expect, test } from "bun:test";
import { connect, createServer, Socket } from "node:net";
import { Duplex, PassThrough } from "node:stream";
import { joinSshPort } from "../../src/cli/ssh-proxy.ts";
import { ForwardPipe, type LiveForward } from "../../src/core/forward-pipe.ts";
import type { Logger } from "../../src/core/log.ts";
import type { WorkspaceService } from "../../src/core/workspaces.ts";
import { freePort } from "../helpers/ports.ts";

const setNoDelay = Socket.prototype.setNoDelay;
afterEach(() => void (Socket.prototype.setNoDelay = setNoDelay));

/** Records each setNoDelay call: the socket's local and remote port, and the value. */
function recordNoDelay(): Array<{ local: number | undefined; remote: number | undefined; on: boolean | undefined }> {
  const set: Array<{ local: number | undefined; remote: number | undefined; on: boolean | undefined }> = [];
  Socket.prototype.setNoDelay = function (this: Socket, on?: boolean) {
    set.push({ local: this.localPort, remote: this.remotePort, on });
    return setNoDelay.call(this, on);
  };
  return set;
}

/** A stream that answers what it is sent, upper-cased (the workspace's end of a tunnel). */
function upper(): Duplex {
  return new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      this.push(chunk.toString().toUpperCase());
      done();
    },
  });
}

function exchange(port: number, text: string): Promise<string> {
  const client = connect({ host: "127.0.0.1", port });
  return new Promise<string>((resolve, reject) => {
    client.once("error", reject);
    client.once("data", (b: Buffer) => resolve(b.toString()));
    client.write(text);
  }).finally(() => client.destroy());
}

test("a port forward sets each connection it accepts TCP_NODELAY and pipes it through the workspace's tunnel", async () => {
  const set = recordNoDelay();
  const port = await freePort();
  const log = { info() {}, warn() {}, error() {} } as unknown as Logger;
  const workspaces = {
    resolve: () => ({ id: "ws-1", name: "nd", status: "running" }),
    openTunnel: () => Promise.resolve(upper()),
    touch() {},
  } as unknown as WorkspaceService;
  const live: LiveForward = {
    forward: { id: "fwd-1", workspaceId: "ws-1", containerPort: 3000, hostPort: port, visibility: "private", bindAddress: "127.0.0.1", url: "", createdAt: "" },
    server: undefined,
    sockets: new Set(),
    allocated: false,
    holders: 0,
    gone: new Promise(() => {}),
    markGone() {},
  };
  const pipe = new ForwardPipe({ workspaces, log, find: () => live });
  const server = await pipe.listen("fwd-1", "127.0.0.1", port);
  try {
    expect(await exchange(port, "ping")).toBe("PING");
    // The accepted socket (local port: the listener's), not only the test's client.
    expect(set.filter((s) => s.local === port)).toEqual([{ local: port, remote: expect.any(Number), on: true }]);
  } finally {
    for (const s of live.sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test("nexus ssh-proxy's socket to the workspace's SSH port is TCP_NODELAY, and joins stdin and stdout to it", async () => {
  const set = recordNoDelay();
  const sshd = createServer((s) => s.on("data", (b: Buffer) => s.write(b.toString().toUpperCase())));
  await new Promise<void>((resolve) => sshd.listen({ host: "127.0.0.1", port: 0 }, resolve));
  const port = (sshd.address() as { port: number }).port;
  const input = new PassThrough();
  const output = new PassThrough();
  try {
    const code = joinSshPort(port, input, output);
    const answer = new Promise<string>((resolve) => output.once("data", (b: Buffer) => resolve(b.toString())));
    input.write("ssh-2.0");
    expect(await answer).toBe("SSH-2.0");
    input.end();
    expect(await code).toBe(0);
    // The proxy's own socket (its remote port: the workspace's SSH port).
    expect(set.filter((s) => s.remote === port)).toEqual([{ local: expect.any(Number), remote: port, on: true }]);
  } finally {
    await new Promise((resolve) => sshd.close(resolve));
  }
});
