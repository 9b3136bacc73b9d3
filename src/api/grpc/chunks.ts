// The `chunk_size` of the streaming reads (StreamFile, CopyFrom): bytes arrive in whatever pieces
// SSH or the engine hands over (SSH: at most 32 KiB); the caller asked for messages of its size.
import { errors } from "../../kernel/errors.ts";
import { Acks } from "../../kernel/ack.ts";

/** The proto's default (StreamFileRequest.chunk_size: "default 64 KiB"). */
export const DEFAULT_CHUNK_BYTES = 64 * 1024;
/** Smaller chunks cost a message each for little: 1-byte chunks would turn a file into a message storm. */
export const MIN_CHUNK_BYTES = 1024;
/** Well under grpc-js's default 4 MiB receive limit, so every client can take the message. */
export const MAX_CHUNK_BYTES = 1024 * 1024;

/** The chunk size a request asks for: 0 (unset) is the default; outside the bounds is INVALID_ARGUMENT. */
export function chunkSize(asked: number | undefined): number {
  if (asked === undefined || asked === 0) return DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(asked) || asked < MIN_CHUNK_BYTES || asked > MAX_CHUNK_BYTES) {
    throw errors.invalidArgument(`chunk_size must be between ${MIN_CHUNK_BYTES} and ${MAX_CHUNK_BYTES} bytes (got ${asked})`, `Leave it 0 for ${DEFAULT_CHUNK_BYTES} bytes (64 KiB)`, { field: "chunk_size" });
  }
  return asked;
}

/**
 * Cuts a byte stream into pieces of exactly `size` bytes (the last one shorter): `push` hands each full
 * piece to `emit` as it completes, `flush` the rest. `size` is at least 1 (chunkSize() makes sure), or a
 * loop cutting zero-byte pieces would never end. `push` answers what `emit` answered for the pieces it
 * cut (a promise while the reader is behind: see kernel/ack.ts), so a producer can wait for it.
 */
export function rechunk(size: number, emit: (piece: Buffer) => unknown): { push(b: Buffer): Promise<void> | undefined; flush(): void } {
  if (!(size >= 1)) throw new RangeError(`rechunk: size must be at least 1, got ${size}`);
  let held: Buffer[] = [];
  let heldBytes = 0;
  const acks = new Acks();
  return {
    push(b) {
      let rest = b;
      while (heldBytes + rest.length >= size) {
        const take = size - heldBytes;
        acks.add(emit(heldBytes === 0 ? rest.subarray(0, take) : Buffer.concat([...held, rest.subarray(0, take)], size)));
        held = [];
        heldBytes = 0;
        rest = rest.subarray(take);
      }
      if (rest.length > 0) {
        held.push(rest);
        heldBytes += rest.length;
      }
      return acks.ack();
    },
    flush() {
      if (heldBytes > 0) emit(Buffer.concat(held, heldBytes));
      held = [];
      heldBytes = 0;
    },
  };
}
