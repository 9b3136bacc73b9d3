// A minimal ustar writer: enough to hand Docker a build context or a few files for a container.

export interface TarEntry {
  name: string;
  content?: string | Uint8Array;
  mode?: number;
  type?: "file" | "dir";
  uid?: number;
  gid?: number;
}

export function tar(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.type === "dir" ? Buffer.alloc(0) : Buffer.from(e.content ?? "");
    blocks.push(header(e, body.length));
    if (body.length > 0) {
      blocks.push(body);
      const pad = (512 - (body.length % 512)) % 512;
      if (pad) blocks.push(Buffer.alloc(pad));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  let name = e.name.replace(/^\/+/, "");
  if (e.type === "dir" && !name.endsWith("/")) name += "/";
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    // ustar splits a long path at a '/' into prefix (<= 155 bytes) and name (<= 100 bytes): take the first split that fits.
    const full = name;
    let cut = full.indexOf("/");
    while (cut >= 0 && (Buffer.byteLength(full.slice(0, cut)) > 155 || Buffer.byteLength(full.slice(cut + 1)) > 100)) {
      if (Buffer.byteLength(full.slice(0, cut)) > 155) cut = -1;
      else cut = full.indexOf("/", cut + 1);
    }
    if (cut < 0 || cut === full.length - 1) throw new Error(`tar: path too long: ${e.name}`);
    prefix = full.slice(0, cut);
    name = full.slice(cut + 1);
  }
  h.write(name, 0, 100, "utf8");
  octal(h, 100, 8, e.mode ?? (e.type === "dir" ? 0o755 : 0o644));
  octal(h, 108, 8, e.uid ?? 0);
  octal(h, 116, 8, e.gid ?? 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, Math.floor(Date.now() / 1000));
  h.fill(" ", 148, 156);
  h.write(e.type === "dir" ? "5" : "0", 156, 1, "ascii");
  h.write("ustar\u000000", 257, 8, "ascii");
  h.write(prefix, 345, 155, "utf8");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\u0000 ", 148, 8, "ascii");
  return h;
}

function octal(buf: Buffer, offset: number, length: number, value: number): void {
  buf.write(value.toString(8).padStart(length - 1, "0") + "\u0000", offset, length, "ascii");
}
