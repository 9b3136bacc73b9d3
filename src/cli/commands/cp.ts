// `nexus cp <ws>:<path> <local>` and `nexus cp <local> <ws>:<path>`, as docker cp: files and folders
// anywhere in the container (home, /etc), streamed as tar through the daemon; `-` is a tar on
// stdin/stdout. What comes from the workspace is unpacked by fs/untrusted-tar.ts (never through links).
import { createReadStream, lstatSync, readdirSync, readlinkSync, statSync, type Stats } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import * as tarStream from "tar-stream";
import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import { extractUntrustedTar } from "../../fs/untrusted-tar.ts";
import type { CliContext } from "../context.ts";
import { writeErr, writeOut } from "../output.ts";
import { resumedLine } from "../resumed.ts";
import { CP_STDIO } from "./cp-args.ts";

/** `ws:path`: a workspace name or id, a colon, a path (a local path with a colon is written ./a:b). */
export function parseCpArg(arg: string): { workspace: string; path: string } | { local: string } {
  const m = /^([a-z0-9][a-z0-9-]{0,62}):(.*)$/.exec(arg);
  return m ? { workspace: m[1]!, path: m[2]! } : { local: arg };
}

export async function cpCommand(ctx: CliContext, source: string | undefined, target: string | undefined): Promise<number> {
  const src = source === CP_STDIO ? "-" : source;
  const dst = target === CP_STDIO ? "-" : target;
  if (!src || !dst) throw usage("nexus cp needs a source and a destination");
  const from = parseCpArg(src);
  const to = parseCpArg(dst);
  if ("workspace" in from && "workspace" in to) throw usage("Copying from one workspace to another is not supported: copy through this machine");
  if ("local" in from && "local" in to) throw usage("One side must be in a workspace (<workspace>:<path>)");
  if ("workspace" in from && "local" in to) return download(ctx, from.workspace, from.path, to.local);
  if ("local" in from && "workspace" in to) return upload(ctx, from.local, to.workspace, to.path);
  throw usage("Unreachable");
}

function usage(message: string): NexusError {
  return new NexusError("INVALID_ARGUMENT", message, { suggestion: "nexus cp <workspace>:<path> <local path> | nexus cp <local path> <workspace>:<path> ('-' for a tar on stdin/stdout)" });
}

async function download(ctx: CliContext, ws: string, path: string, local: string): Promise<number> {
  const client = await ctx.client();
  // Where it goes is settled before anything is asked of the workspace.
  const place = local === "-" ? undefined : destination(local);
  await known(client, ws);
  const res = await client.bytes("GET", `/api/v1/workspaces/${encodeURIComponent(ws)}/archive?path=${encodeURIComponent(path)}`);
  const resumed = res.headers.get("x-nexus-resumed-ms");
  if (resumed) await writeErr(resumedLine(ws, { durationMs: Number(resumed) }) + "\n");
  const archive = Readable.fromWeb(res.body as unknown as Parameters<typeof Readable.fromWeb>[0]);
  if (!place) {
    for await (const chunk of archive) await writeOut(chunk as Uint8Array);
    return EXIT_CODES.ok;
  }
  const r = await extractUntrustedTar(archive, place.dir, place.rename);
  await report(ctx, { from: `${ws}:${path}`, to: r.path, entries: r.entries, bytes: r.bytes });
  return EXIT_CODES.ok;
}

/**
 * Asks for the workspace first: a JSON request starts (or replaces) the local daemon when needed,
 * which a streamed one cannot be sent again for, and an unknown workspace is told before any stream.
 */
async function known(client: Awaited<ReturnType<CliContext["client"]>>, ws: string): Promise<void> {
  await client.json("GET", `/api/v1/workspaces/${encodeURIComponent(ws)}`);
}

/** docker cp's rule: into an existing folder, else as the named path in its existing parent. */
function destination(local: string): { dir: string; rename?: string } {
  const full = resolve(local);
  const st = statOrUndefined(full);
  if (st?.isDirectory()) return { dir: full };
  if (local.endsWith("/")) throw new NexusError("NOT_FOUND", `The folder ${full} does not exist`, { suggestion: "Create it first, or leave out the trailing '/' to copy to that name" });
  const parent = dirname(full);
  if (!statOrUndefined(parent)?.isDirectory()) throw new NexusError("NOT_FOUND", `The folder ${parent} does not exist`, { suggestion: "Create it first" });
  return { dir: parent, rename: basename(full) };
}

async function upload(ctx: CliContext, local: string, ws: string, path: string): Promise<number> {
  let body: ReadableStream<Uint8Array>;
  if (local === "-") {
    body = Readable.toWeb(process.stdin) as unknown as ReadableStream<Uint8Array>;
  } else {
    const full = resolve(local);
    const st = lstatOrUndefined(full);
    if (!st) throw new NexusError("NOT_FOUND", `No file or folder ${full} on this machine`, { suggestion: "Check the local path" });
    body = Readable.toWeb(packTree(full, st)) as unknown as ReadableStream<Uint8Array>;
  }
  const client = await ctx.client();
  await known(client, ws);
  const res = await client.bytes("PUT", `/api/v1/workspaces/${encodeURIComponent(ws)}/archive?path=${encodeURIComponent(path)}`, body);
  const r = (await res.json()) as { path: string; entries: number; bytes: number; resumed?: { durationMs: number } };
  if (r.resumed) await writeErr(resumedLine(ws, r.resumed) + "\n");
  await report(ctx, { from: local, to: `${ws}:${r.path}`, entries: r.entries, bytes: r.bytes });
  return EXIT_CODES.ok;
}

/** A tar of `root` (named by its basename), streamed: files are read as the archive is sent; links are kept as links. */
function packTree(root: string, rootStat: Stats): Readable {
  const pack = tarStream.pack();
  const add = async (full: string, name: string, st: Stats): Promise<void> => {
    const common = { name, mode: st.mode & 0o7777, mtime: st.mtime };
    if (st.isDirectory()) {
      await entry(pack, { ...common, type: "directory" });
      for (const child of readdirSync(full).sort()) {
        const c = join(full, child);
        await add(c, `${name}/${child}`, lstatSync(c));
      }
    } else if (st.isSymbolicLink()) {
      await entry(pack, { ...common, type: "symlink", linkname: readlinkSync(full) });
    } else if (st.isFile()) {
      await new Promise<void>((ok, fail) => {
        const w = pack.entry({ ...common, type: "file", size: st.size }, (err) => (err ? fail(err) : ok()));
        createReadStream(full).on("error", fail).pipe(w);
      });
    } else {
      await writeErr(`nexus: skipped ${full}: only files, folders and links are copied\n`);
    }
  };
  add(root, basename(root), rootStat).then(
    () => pack.finalize(),
    (err: Error) => pack.destroy(err),
  );
  return pack;
}

function entry(pack: tarStream.Pack, header: tarStream.Headers): Promise<void> {
  return new Promise((ok, fail) => pack.entry(header, (err) => (err ? fail(err) : ok())).end());
}

async function report(ctx: CliContext, r: { from: string; to: string; entries: number; bytes: number }): Promise<void> {
  await writeOut(ctx.json ? JSON.stringify(r) + "\n" : `Copied ${r.from} to ${r.to} (${r.entries} entr${r.entries === 1 ? "y" : "ies"}, ${r.bytes} bytes)\n`);
}

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
