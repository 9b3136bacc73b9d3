// Listings of original images (docker/image-listing.ts) kept on disk, one file per engine and image
// id under ~/.nexus/checkpoints/image-listings/, so the first checkpoint of an image after a daemon
// start lists its changes after the answer as later ones do, instead of taking `docker diff` while
// the container is frozen. The daemon made these files from an image; one it cannot vouch for (a
// link, another owner, too big, torn, edited, made for another image or by another format) is read
// as absent: the listing is then made again from the image, which the workspace still runs on.
import { createHash } from "node:crypto";
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Listing } from "../docker/image-listing.ts";
import { writeFileAtomic } from "./atomic.ts";

const MAGIC = "nexus-image-listing 1\n";
/** A listing of the 294 MB workspace image is ~1 MB; one past this is not kept (the memory copy still serves). */
export const MAX_LISTING_BYTES = 64 * 1024 * 1024;

interface Header {
  engine: string;
  image: string;
  entries: number;
  bytes: number;
  sha256: string;
}

/** One listing file: which engine and image it is of. */
export interface ListingFile {
  file: string;
  engine: string;
  image: string;
}

export class ImageListingFiles {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The file of an engine's image: a hash of both (an engine's config name may hold any character). */
  fileOf(engine: string, image: string): string {
    return join(this.dir, `${createHash("sha256").update(`${engine}\0${image}`).digest("hex").slice(0, 40)}.listing`);
  }

  has(engine: string, image: string): boolean {
    return existsSync(this.fileOf(engine, image));
  }

  /** Writes the listing atomically; false when it is past MAX_LISTING_BYTES (then not kept). */
  write(engine: string, image: string, listing: Listing): boolean {
    const body = encodeListing(listing);
    if (body.length > MAX_LISTING_BYTES) return false;
    const header: Header = { engine, image, entries: listing.size, bytes: body.length, sha256: createHash("sha256").update(body).digest("hex") };
    writeFileAtomic(this.fileOf(engine, image), Buffer.concat([Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`), body]));
    return true;
  }

  /** The listing of an engine's image, or undefined when there is none or the file is not one this daemon wrote for it (then it is removed). */
  read(engine: string, image: string): Listing | undefined {
    const file = this.fileOf(engine, image);
    const data = readOwnFile(file);
    if (!data) return undefined;
    const listing = decodeFile(data, engine, image);
    if (!listing) rmSync(file, { force: true });
    return listing;
  }

  /** Every listing file with the engine and image its header names (files that do not parse are listed with empty names, to be removed). */
  list(): ListingFile[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith(".listing") || f.endsWith(".tmp"))
      .map((f) => {
        const file = join(this.dir, f);
        const header = f.endsWith(".listing") ? readHeader(file) : undefined;
        return { file, engine: header?.engine ?? "", image: header?.image ?? "" };
      });
  }

  remove(file: string): void {
    rmSync(file, { force: true });
  }
}

/** path, type and metadata, link target: three NUL-ended fields per path (no path holds a NUL). */
export function encodeListing(listing: Listing): Buffer {
  const parts: string[] = [];
  for (const [path, meta] of listing) parts.push(path, meta);
  // meta is "<fields>\0<link>": with the path, three NUL-ended fields.
  return Buffer.from(parts.length ? parts.join("\0") + "\0" : "", "utf8");
}

export function decodeListing(body: Buffer): Listing | undefined {
  const fields = body.toString("utf8").split("\0");
  if (fields.pop() !== "" || fields.length % 3 !== 0) return undefined;
  const listing: Listing = new Map();
  for (let i = 0; i < fields.length; i += 3) {
    const path = fields[i]!;
    const meta = fields[i + 1]!;
    if (!path.startsWith("/") || !/^[a-zA-Z?] \d+ \d+ [0-7]+ \d+ [\d.]+$/.test(meta)) return undefined;
    listing.set(path, `${meta}\0${fields[i + 2]}`);
  }
  return listing;
}

/** Parses and checks a whole file: magic, header for this engine and image, body length and hash, every record. */
export function decodeFile(data: Buffer, engine: string, image: string): Listing | undefined {
  const header = parseHeader(data);
  if (!header || header.engine !== engine || header.image !== image) return undefined;
  const body = data.subarray(header.offset);
  if (body.length !== header.bytes || createHash("sha256").update(body).digest("hex") !== header.sha256) return undefined;
  const listing = decodeListing(body);
  return listing && listing.size === header.entries ? listing : undefined;
}

function parseHeader(data: Buffer): (Header & { offset: number }) | undefined {
  if (data.subarray(0, MAGIC.length).toString("latin1") !== MAGIC) return undefined;
  const end = data.indexOf(0x0a, MAGIC.length);
  if (end < 0 || end - MAGIC.length > 4096) return undefined;
  try {
    const h = JSON.parse(data.subarray(MAGIC.length, end).toString("utf8")) as Partial<Header>;
    if (typeof h.engine !== "string" || typeof h.image !== "string" || typeof h.sha256 !== "string" || !Number.isSafeInteger(h.entries) || !Number.isSafeInteger(h.bytes)) return undefined;
    return { engine: h.engine, image: h.image, entries: h.entries!, bytes: h.bytes!, sha256: h.sha256, offset: end + 1 };
  } catch {
    return undefined;
  }
}

function readHeader(file: string): Header | undefined {
  const data = readOwnFile(file, MAGIC.length + 4097);
  return data ? parseHeader(data) : undefined;
}

/**
 * The file's bytes (at most `limit`), when it is a plain file of this process's user, not a link,
 * with one name, and within MAX_LISTING_BYTES plus its header; undefined otherwise.
 */
function readOwnFile(file: string, limit = Infinity): Buffer | undefined {
  let fd: number;
  try {
    if (!lstatSync(file).isFile()) return undefined;
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    const uid = typeof process.getuid === "function" ? process.getuid() : st.uid;
    if (!st.isFile() || st.nlink !== 1 || st.uid !== uid || st.size > MAX_LISTING_BYTES + 8192) return undefined;
    const size = Math.min(st.size, limit);
    const buf = Buffer.alloc(size);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, buf, at, size - at, at);
      if (n === 0) break;
      at += n;
    }
    return buf.subarray(0, at);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
