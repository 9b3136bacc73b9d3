// The daemon's TCP socket to a workspace's sshd, writing each SSH packet whole.
//
// ssh2 hands a packet to its socket in pieces: with AES-GCM and ChaCha20-Poly1305 (what OpenSSH
// picks) and the encrypt-then-MAC modes, the length, the encrypted payload and the tag are three
// write() calls (ssh2's lib/protocol/crypto.js). With Nagle off on this socket, as it must be
// (connect.ts), each piece was a send() and a TCP segment of its own, which Docker's port proxy read
// and passed on one by one, and sshd read one by one: 12 send()s for the 4 packets of a
// `nexus exec ws -- true`. Here the writes made before the current task's microtasks end go out as
// one. Each piece ssh2 writes is a buffer it never touches again (made per packet), so holding
// them that long changes nothing but the number of send()s.
//
// It wraps the socket's own `write` rather than subclassing: Bun's node:net gives a socket an own
// `write` when it connects (a subclass's method is shadowed), so the one the runtime sets, now or
// later, is kept as the inner writer.
import type { Socket } from "node:net";

type Write = (chunk: unknown, encoding?: unknown, callback?: unknown) => boolean;
type End = (...args: unknown[]) => unknown;

/** Makes `sock` send the bare buffers written in one go as one write; anything else keeps its place. */
export function coalesceWrites(sock: Socket): void {
  const target = sock as unknown as { write: Write; end: End };
  let inner: Write = target.write;
  let innerEnd: End = target.end;
  let pending: Uint8Array[] = [];
  const flush = () => {
    const chunks = pending;
    if (chunks.length === 0) return;
    pending = [];
    // A socket closed meanwhile takes no writes, as ssh2 checks before each of its own.
    if (sock.destroyed || !sock.writable) return;
    inner.call(sock, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  };
  const write: Write = (chunk, encoding, callback) => {
    // A callback, an encoding or a string: what is held goes first, then this as given.
    if (!(chunk instanceof Uint8Array) || encoding !== undefined || callback !== undefined) {
      flush();
      return inner.call(sock, chunk, encoding, callback);
    }
    if (pending.length === 0) queueMicrotask(flush);
    pending.push(chunk);
    return !sock.writableNeedDrain;
  };
  const end: End = (...args) => {
    flush();
    return innerEnd.apply(sock, args);
  };
  Object.defineProperty(sock, "write", { configurable: true, get: () => write, set: (fn: Write) => void (inner = fn) });
  Object.defineProperty(sock, "end", { configurable: true, get: () => end, set: (fn: End) => void (innerEnd = fn) });
}
