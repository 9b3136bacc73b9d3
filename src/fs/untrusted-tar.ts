// A tar from a workspace (nexus cp from a container) is untrusted: whatever runs in the workspace
// chose its names and links. It is unpacked into a fresh folder beside the destination, refusing
// absolute names, `..`, a second root, links that lead out of the copied tree, entries that would be
// written through a link, and devices or FIFOs; only when all of it is in does it move into place.
// A refusal leaves nothing behind.
import { closeSync, constants, futimesSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, renameSync, rmdirSync, rmSync, symlinkSync, writeSync, chmodSync, type Stats } from "node:fs";
import { join, posix } from "node:path";
import * as tarStream from "tar-stream";
import { NexusError } from "../kernel/errors.ts";

export interface ExtractResult {
  /** The copied tree's path on the host. */
  path: string;
  entries: number;
  bytes: number;
}

/** `name` as path components, or PERMISSION_DENIED when it is absolute, empty or climbs with `..`. */
export function safeEntryComponents(name: string): string[] {
  if (name.includes("\0")) throw refused(name, "its name holds a NUL byte");
  if (name.startsWith("/")) throw refused(name, "its name is absolute");
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0) throw refused(name, "its name is empty");
  if (parts.includes("..")) throw refused(name, "its name climbs out with '..'");
  return parts;
}

/** Whether the symlink at `parts` pointing at `target` stays inside the copied tree (parts[0]). */
export function linkStaysInside(parts: readonly string[], target: string): boolean {
  if (target === "" || target.startsWith("/")) return false;
  const resolved = posix.normalize(posix.join(...parts.slice(0, -1), target));
  return resolved === parts[0] || resolved.startsWith(`${parts[0]}/`);
}

/**
 * Unpacks `archive` (one root entry) into the existing folder `dir`; `rename` gives the root another
 * name (docker cp's `ws:/x ./new-name`). Existing files there are replaced, folders merged, as docker cp does.
 */
export async function extractUntrustedTar(archive: NodeJS.ReadableStream, dir: string, rename?: string): Promise<ExtractResult> {
  const temp = mkdtempSync(join(dir, ".nexus-cp-"));
  let root: string | undefined;
  let entries = 0;
  let bytes = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const extract = tarStream.extract();
      const fail = (err: unknown) => {
        archive.unpipe?.(extract);
        extract.destroy();
        reject(err);
      };
      extract.on("entry", (header, stream, next) => {
        const done = (err?: unknown) => (err ? fail(err) : next());
        try {
          const parts = safeEntryComponents(header.name);
          if (rename) parts[0] = rename;
          if (root === undefined) root = parts[0];
          else if (parts[0] !== root) throw refused(header.name, `it is outside the copied tree '${root}'`);
          const target = join(temp, ...parts);
          ensureParents(temp, parts, header.name);
          entries++;
          switch (header.type ?? "file") {
            case "directory":
              if (!isRealDir(lstatOrUndefined(target))) mkdirSync(target, { mode: 0o700 });
              chmodSync(target, ((header.mode ?? 0o755) & 0o777) | 0o700);
              stream.resume();
              stream.on("end", () => done());
              return;
            case "file":
            case "contiguous-file": {
              removeNonDir(target, header.name);
              const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, (header.mode ?? 0o644) & 0o777);
              stream.on("data", (chunk: Buffer) => {
                writeAll(fd, chunk);
                bytes += chunk.length;
              });
              stream.on("end", () => {
                if (header.mtime) futimesSync(fd, header.mtime, header.mtime);
                closeSync(fd);
                done();
              });
              stream.on("error", (err) => {
                closeSync(fd);
                done(err);
              });
              return;
            }
            case "symlink": {
              const link = header.linkname ?? "";
              if (!linkStaysInside(parts, link)) throw refused(header.name, `it is a symlink to '${link}', outside the copied tree`);
              removeNonDir(target, header.name);
              symlinkSync(link, target);
              stream.resume();
              stream.on("end", () => done());
              return;
            }
            case "link": {
              const linkParts = safeEntryComponents(header.linkname ?? "");
              if (rename) linkParts[0] = rename;
              const source = join(temp, ...linkParts);
              if (linkParts[0] !== root || !lstatOrUndefined(source)?.isFile()) throw refused(header.name, `it is a hard link to '${header.linkname}', not a file copied before it`);
              ensureParents(temp, linkParts, header.name);
              removeNonDir(target, header.name);
              linkSync(source, target);
              stream.resume();
              stream.on("end", () => done());
              return;
            }
            default:
              throw refused(header.name, `it is a ${header.type} (only files, folders and links are copied)`);
          }
        } catch (err) {
          stream.resume();
          fail(err);
        }
      });
      extract.on("finish", () => resolve());
      extract.on("error", (err) => fail(new NexusError("INVALID_ARGUMENT", `The archive is not a valid tar: ${err.message}`, { suggestion: "Copy again; the stream may have been cut" })));
      archive.on("error", fail);
      archive.pipe(extract);
    });
    if (root === undefined) throw new NexusError("INVALID_ARGUMENT", "The archive was empty: nothing to copy", { suggestion: "Check the path in the workspace" });
    const path = join(dir, root);
    moveInto(join(temp, root), path);
    return { path, entries, bytes };
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

function ensureParents(temp: string, parts: readonly string[], name: string): void {
  let at = temp;
  for (const p of parts.slice(0, -1)) {
    at = join(at, p);
    const st = lstatOrUndefined(at);
    if (st === undefined) mkdirSync(at, { mode: 0o755 });
    else if (st.isSymbolicLink()) throw refused(name, `it would be written through the symlink '${p}'`);
    else if (!st.isDirectory()) throw refused(name, `'${p}' before it is not a folder`);
  }
}

/** Clears the way for a file or link at `target`: a link or file is removed (never followed); a folder is an error. */
function removeNonDir(target: string, name: string): void {
  const st = lstatOrUndefined(target);
  if (st === undefined) return;
  if (isRealDir(st)) throw refused(name, "a folder of the same name came before it");
  rmSync(target, { force: true });
}

/** Moves `src` to `dst`: folders merge, files and links replace what is there (never followed). */
function moveInto(src: string, dst: string): void {
  const s = lstatSync(src);
  const d = lstatOrUndefined(dst);
  if (d === undefined) return renameSync(src, dst);
  if (isRealDir(s) && isRealDir(d)) {
    for (const child of readdirSync(src)) moveInto(join(src, child), join(dst, child));
    rmdirSync(src);
    return;
  }
  if (isRealDir(d)) throw new NexusError("INVALID_ARGUMENT", `Cannot overwrite the folder ${dst} with a file`, { suggestion: "Copy to another name, or remove the folder first" });
  if (isRealDir(s)) throw new NexusError("INVALID_ARGUMENT", `Cannot overwrite ${dst}, which is not a folder, with a folder`, { suggestion: "Copy to another name, or remove it first" });
  renameSync(src, dst);
}

function isRealDir(st: Stats | undefined): boolean {
  return st !== undefined && st.isDirectory() && !st.isSymbolicLink();
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
}

function refused(name: string, why: string): NexusError {
  return new NexusError("PERMISSION_DENIED", `Refused the copy: the archive entry '${name.slice(0, 200)}' is unsafe (${why}); nothing was written`, {
    suggestion: "The workspace made this archive; copy single files, or look at what is in the workspace first",
    details: { entry: name.slice(0, 200) },
  });
}
