// The asynchronous twin of atomic.ts, in a module of its own: atomic.ts is on the CLI's start path,
// and node:fs/promises is not needed there.
import { renameSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * writeFileAtomic off the event loop (the write and fsync run on the runtime's thread pool). The
 * rename happens only when `commit()` still answers true right before it, in the same turn: a newer
 * write of the same file made meanwhile wins, and the stale temp file is removed instead.
 */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array, commit: () => boolean, mode = 0o600): Promise<boolean> {
  const tmp = join(dirname(path), `.${basename(path)}.${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString("hex")}.tmp`);
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(typeof data === "string" ? Buffer.from(data) : data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    rmSync(tmp, { force: true });
    throw err;
  }
  await fh.close();
  if (!commit()) {
    rmSync(tmp, { force: true });
    return false;
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return true;
}
