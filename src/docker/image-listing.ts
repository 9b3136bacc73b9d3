// What a checkpoint's image changed against the workspace's original image, found after the fact
// from a listing of each image's files (type, owner, mode, size, mtime, link target) instead of
// `docker diff` while the container is frozen. The engine's own diff walks the whole image on
// engines without the native overlay diff (measured: ~0.8 s of dockerd CPU for the 294 MB workspace
// image, holding the container's lock): taken at the checkpoint it was the longest part of the
// frozen window. The committed image keeps that instant, so listing it later gives the same changes;
// the comparison is the engine's naive diff (what such an engine runs itself), and the original
// image's listing is taken once per image.
import type { ContainerEngine, FsChange } from "./container-engine.ts";

/**
 * GNU find, on the image's own filesystem (-xdev: not /proc, /sys, /dev or the bind-mounted /etc
 * files), one NUL-ended record per path: "<type> <uid> <gid> <mode> <size> <mtime> <path>" then the
 * link target (empty for anything else) NUL-ended too.
 */
const FIND = ["/", "-xdev", "-printf", "%y %U %G %m %s %T@ %p\\0%l\\0"];

/** Docker's init layer of the listing container itself (made anew for each container, never committed). */
const INIT_LAYER = new Set(["/.dockerenv", "/etc/mtab"]);

/** One listing: path → its type and metadata as find printed them ("<type> <uid> <gid> <mode> <size> <mtime>\0<link>"). */
export type Listing = Map<string, string>;

/** Parses find's output (FIND) into a listing. */
export function parseListing(out: Buffer | string): Listing {
  const fields = (typeof out === "string" ? out : out.toString("utf8")).split("\0");
  const listing: Listing = new Map();
  // Records come in pairs: "<meta> <path>" then "<link target>"; the output ends with a NUL (a last empty field).
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const rec = fields[i]!;
    let cut = -1;
    for (let n = 0, at = -1; n < 6; n++) {
      at = rec.indexOf(" ", at + 1);
      if (at < 0) break;
      cut = at;
    }
    if (cut < 0) continue;
    const path = rec.slice(cut + 1);
    if (!path.startsWith("/") || INIT_LAYER.has(path)) continue;
    listing.set(path, `${rec.slice(0, cut)}\0${fields[i + 1]}`);
  }
  return listing;
}

/**
 * The changes that make `base` into `top`, as `docker diff` reports them (Kind 0 changed, 1 added,
 * 2 deleted): a path only in `top` is added, only in `base` deleted; one in both changed when its
 * type, owner or mode differ, or (not for directories: their size and mtime say nothing of their
 * own change) its size, mtime or link target. The same test the engine's naive diff makes.
 */
export function diffListings(base: Listing, top: Listing): FsChange[] {
  const changes: FsChange[] = [];
  for (const [path, meta] of top) {
    const was = base.get(path);
    if (was === undefined) changes.push({ Path: path, Kind: 1 });
    else if (was !== meta && changed(was, meta)) changes.push({ Path: path, Kind: 0 });
  }
  for (const path of base.keys()) if (!top.has(path)) changes.push({ Path: path, Kind: 2 });
  return changes;
}

function changed(a: string, b: string): boolean {
  const [ma, la] = a.split("\0") as [string, string];
  const [mb, lb] = b.split("\0") as [string, string];
  const fa = ma.split(" ");
  const fb = mb.split(" ");
  // type, uid, gid, mode
  for (let i = 0; i < 4; i++) if (fa[i] !== fb[i]) return true;
  if (fa[0] === "d") return false;
  return fa[4] !== fb[4] || fa[5] !== fb[5] || la !== lb;
}

/**
 * The listing of `image`'s files, made by its own GNU find in a throwaway container (root, no
 * network, no log kept). Rejects when the image has no GNU find (the caller then keeps `docker
 * diff`) or the run fails.
 */
export async function listImage(engine: ContainerEngine, image: string, labels: Record<string, string>): Promise<Listing> {
  const run = await engine.runInImage(image, ["find"], FIND, labels);
  if (!run) throw new Error(`the image ${image} has no find to list its files with`);
  const chunks: Buffer[] = [];
  let read = false;
  try {
    for await (const chunk of run.stream) chunks.push(chunk as Buffer);
    read = true;
  } finally {
    await run.done(read);
  }
  const out = Buffer.concat(chunks);
  const listing = parseListing(out);
  // GNU find's -printf prints the fields; another find (busybox) errors out above or prints nothing usable.
  if (!listing.has("/etc") && !listing.has("/usr")) throw new Error(`listing the files of ${image} gave nothing usable (${out.length} bytes)`);
  return listing;
}
