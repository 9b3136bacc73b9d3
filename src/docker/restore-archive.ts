// One tar that brings a checkpoint back into a fresh container in a single copy. Every archive copy
// into or out of a container that is not running mounts its filesystem (and the engine starts a
// helper process to unpack): one copy instead of one per changed path, home, git index and the
// workspace's own files is most of what a restore saves. The parts are re-rooted at `/` as they go.
import { createReadStream, createWriteStream, renameSync, rmSync } from "node:fs";
import { posix } from "node:path";
import { pipeline } from "node:stream/promises";
import * as tarStream from "tar-stream";
import type { ContainerEngine } from "./container-engine.ts";
import type { TarEntry } from "./tar.ts";

/** A part of the archive: a path read from a container, a tar file on disk, or a few files made here. */
export type RestorePart =
  | { from: "container"; containerId: string; path: string }
  /** A tar on disk whose entries belong under `dir` (as `docker cp file.tar` into `dir`). */
  | { from: "file"; file: string; dir: string }
  | { from: "entries"; entries: readonly TarEntry[] }
  /** A tar stream already rooted at `/`; `done` is awaited once it is read (it says whether its maker succeeded). */
  | { from: "stream"; stream: NodeJS.ReadableStream; done: (read: boolean) => Promise<void> };

/** The entries of the tar `source` into `pack`, each name (and hard link target) under `prefix`. */
function copyEntries(source: NodeJS.ReadableStream, pack: tarStream.Pack, prefix: string): Promise<void> {
  const under = (name: string) => (prefix ? posix.join(prefix, name) + (name.endsWith("/") ? "/" : "") : name);
  return new Promise((resolve, reject) => {
    const extract = tarStream.extract();
    const fail = (err: Error) => {
      extract.destroy();
      reject(err);
    };
    extract.on("entry", (header, body, next) => {
      const h: tarStream.Headers = { ...header, name: under(header.name) };
      if (h.type === "link" && h.linkname) h.linkname = under(h.linkname);
      if (h.pax) {
        // path/linkpath/size are written again from the header; an extended attribute whose value
        // is not text would not survive tar-stream's decoding, so it is left out rather than mangled.
        const pax: Record<string, string> = {};
        for (const [k, v] of Object.entries(h.pax)) if (k !== "path" && k !== "linkpath" && k !== "size" && !v.includes("\uFFFD")) pax[k] = v;
        if (Object.keys(pax).length > 0) h.pax = pax;
        else delete h.pax;
      }
      const sink = pack.entry(h, (err) => (err ? fail(err) : next()));
      body.on("error", fail);
      body.pipe(sink);
    });
    extract.on("finish", () => resolve());
    extract.on("error", fail);
    source.on("error", fail);
    source.pipe(extract);
  });
}

function addEntries(pack: tarStream.Pack, entries: readonly TarEntry[]): Promise<void> {
  return entries.reduce(
    (prev, e) =>
      prev.then(
        () =>
          new Promise<void>((resolve, reject) => {
            const name = e.name.replace(/^\/+/, "");
            const header = { name, mode: e.mode ?? (e.type === "dir" ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, type: e.type === "dir" ? ("directory" as const) : ("file" as const) };
            const done = (err?: Error | null) => (err ? reject(err) : resolve());
            if (e.type === "dir") pack.entry(header, done);
            else pack.entry(header, Buffer.from(e.content ?? ""), done);
          }),
      ),
    Promise.resolve(),
  );
}

/**
 * Writes the parts, in order (a later one wins over an earlier one at the same path), as one tar
 * rooted at `/` to `file`; answers its size. A failure leaves no file.
 */
export async function writeRestoreArchive(engine: ContainerEngine, parts: Iterable<RestorePart> | AsyncIterable<RestorePart>, file: string): Promise<number> {
  const pack = tarStream.pack();
  const tmp = `${file}.partial`;
  const out = createWriteStream(tmp, { mode: 0o600 });
  let bytes = 0;
  pack.on("data", (b: Buffer) => void (bytes += b.length));
  const written = pipeline(pack, out);
  written.catch(() => {}); // awaited below; heard now in case a part fails first
  try {
    for await (const part of parts) {
      if (part.from === "entries") await addEntries(pack, part.entries);
      else if (part.from === "file") await copyEntries(createReadStream(part.file), pack, part.dir.replace(/^\/+/, ""));
      else if (part.from === "stream") {
        let read = false;
        try {
          await copyEntries(part.stream, pack, "");
          read = true;
        } finally {
          await part.done(read);
        }
      }
      else await copyEntries(await engine.getArchive(part.containerId, part.path), pack, posix.dirname(part.path).replace(/^\/+/, ""));
    }
    pack.finalize();
    await written;
    renameSync(tmp, file);
    return bytes;
  } catch (err) {
    pack.destroy();
    await written.catch(() => {});
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Unpacks the tar `file` at `/` of the container (numeric owners kept). */
export async function putRestoreArchive(engine: ContainerEngine, containerId: string, file: string): Promise<void> {
  const input = createReadStream(file);
  input.on("error", () => {}); // reported by putArchive's rejection
  try {
    await engine.putArchive(containerId, "/", input);
  } finally {
    input.destroy();
  }
}
