// Which provider a remote workspace gets: mutagen when its binary is on PATH (the spec's default),
// else unison; `sync.provider` may insist on one. None there: SYNC_PROVIDER_NOT_FOUND, with how to get one.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { NexusError } from "../kernel/errors.ts";
import type { SyncConfig } from "./config.ts";

/** The first executable `name` on PATH, or undefined. */
export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? "").split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

export const INSTALL_SUGGESTION = "Install unison (Debian/Ubuntu: 'sudo apt-get install unison'; macOS: 'brew install unison') or mutagen (https://mutagen.io), then try again";

export function chooseProvider(config: Pick<SyncConfig, "provider">, env: Record<string, string | undefined>): { provider: "mutagen" | "unison"; binary: string } {
  const want = config.provider;
  const mutagen = want === "unison" ? undefined : findOnPath("mutagen", env.PATH);
  if (mutagen) return { provider: "mutagen", binary: mutagen };
  const unison = want === "mutagen" ? undefined : findOnPath("unison", env.PATH);
  if (unison) return { provider: "unison", binary: unison };
  const named = want === "auto" ? "neither mutagen nor unison is" : `${want} (sync.provider) is not`;
  throw new NexusError("SYNC_PROVIDER_NOT_FOUND", `No file sync provider: ${named} installed on this machine`, {
    suggestion: want === "auto" ? INSTALL_SUGGESTION : `Install ${want}, or set sync.provider to auto in ~/.nexus/config.yaml`,
    details: { provider: want, path: env.PATH ?? "" },
  });
}
