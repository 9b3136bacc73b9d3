// The part of tar-stream 2.x (no types of its own) that Nexus uses: a streaming tar reader and writer.
declare module "tar-stream" {
  import type { Readable, Writable } from "node:stream";
  export interface Headers {
    name: string;
    size?: number;
    mode?: number;
    mtime?: Date;
    type?: "file" | "link" | "symlink" | "directory" | "character-device" | "block-device" | "fifo" | "contiguous-file" | "pax-header" | "pax-global-header" | "gnu-long-link-path" | "gnu-long-path" | null;
    linkname?: string | null;
    uid?: number;
    gid?: number;
    uname?: string;
    gname?: string;
    devmajor?: number;
    devminor?: number;
    pax?: Record<string, string> | null;
  }
  export interface Extract extends Writable {
    on(event: "entry", listener: (header: Headers, stream: Readable, next: (err?: unknown) => void) => void): this;
    on(event: "finish" | "close", listener: () => void): this;
    on(event: "error", listener: (err: Error) => void): this;
  }
  export interface Pack extends Readable {
    entry(header: Headers, callback?: (err?: Error | null) => void): Writable;
    entry(header: Headers, buffer: string | Buffer, callback?: (err?: Error | null) => void): Writable;
    finalize(): void;
  }
  export function extract(opts?: object): Extract;
  export function pack(opts?: object): Pack;
}
