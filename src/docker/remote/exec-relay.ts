// A stream to 127.0.0.1:<port> inside a container, made of the Docker API alone: an exec of a small
// python3 relay (the workspace image always has python3) whose stdin and stdout are the hijacked
// attach connection. So a tcp:// engine's workspace ports are reached without publishing anything:
// not on the engine host's network, not by container IP. The relay runs as nobody (65534): it only
// connects to the container's loopback.
import { Duplex } from "node:stream";
import type { DockerEngine } from "../engine.ts";

/**
 * argv[1] = the port. stdin → socket, socket → stdout. When stdin ends (the client went away) the
 * socket is half-closed and the answer gets 30 s, then the relay ends: nothing is left running.
 */
export const RELAY_SCRIPT = `import os,socket,sys,threading
try:
    s=socket.create_connection(("127.0.0.1",int(sys.argv[1])))
except OSError as e:
    sys.stderr.write("127.0.0.1:%s: %s\\n"%(sys.argv[1],e)); sys.stderr.flush(); os._exit(1)
def up():
    try:
        while True:
            b=os.read(0,65536)
            if not b: break
            s.sendall(b)
    except OSError: pass
    try: s.shutdown(socket.SHUT_WR)
    except OSError: pass
    t=threading.Timer(30,lambda:os._exit(0)); t.daemon=True; t.start()
threading.Thread(target=up,daemon=True).start()
o=sys.stdout.buffer
try:
    while True:
        b=s.recv(65536)
        if not b: break
        o.write(b); o.flush()
except OSError: pass
os._exit(0)
`;

/** Splits Docker's multiplexed attach stream (8-byte header: stream, 0, 0, 0, size big-endian) into frames. */
export class FrameDemuxer {
  #pending: Buffer = Buffer.alloc(0);
  readonly #onFrame: (stream: number, payload: Buffer) => void;

  constructor(onFrame: (stream: number, payload: Buffer) => void) {
    this.#onFrame = onFrame;
  }

  push(chunk: Buffer): void {
    let buf = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      if (size > 0) this.#onFrame(buf[0]!, buf.subarray(8, 8 + size));
      buf = buf.subarray(8 + size);
    }
    this.#pending = buf;
  }
}

/** Opens the relay to `port` in container `id`; the stream ends when the connection inside does. */
export async function openExecRelay(engine: DockerEngine, id: string, port: number): Promise<Duplex> {
  const sock = (await engine.call("open a relay into the container", async () => {
    const exec = await engine.docker.getContainer(id).exec({
      Cmd: ["python3", "-c", RELAY_SCRIPT, String(port)],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      User: "65534:65534",
      WorkingDir: "/",
    });
    return exec.start({ hijack: true, stdin: true });
  })) as unknown as Duplex;
  let ended = false;
  const stderr: Buffer[] = [];
  const stream = new Duplex({
    read() {
      sock.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      sock.write(chunk, (err) => cb(err ?? null));
    },
    final(cb) {
      sock.end();
      cb();
    },
    destroy(err, cb) {
      sock.destroy();
      cb(err);
    },
  });
  const demux = new FrameDemuxer((kind, payload) => {
    if (kind === 1) {
      if (!stream.push(payload)) sock.pause();
    } else if (kind === 2 && stderr.length < 16) stderr.push(payload);
  });
  sock.on("data", (b: Buffer) => demux.push(b));
  sock.on("end", () => {
    ended = true;
    stream.push(null);
  });
  sock.on("error", (err) => stream.destroy(err));
  sock.on("close", () => {
    if (!ended) stream.destroy(new Error(`the relay to port ${port} closed: ${Buffer.concat(stderr).toString("utf8").trim()}`));
  });
  return stream;
}
