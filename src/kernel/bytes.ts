// Byte arrays joined without Buffer (the CLI's hot path and the runtime glue avoid node builtins).

/** `parts` as one array; `size` is their total length. One part is given back as it is. */
export function joinAll(parts: readonly Uint8Array[], size: number): Uint8Array {
  if (parts.length === 0) return new Uint8Array(0);
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
