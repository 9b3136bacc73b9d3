// ide.extensions as the workspace's recommendations: ~/.vscode/extensions.json in the container
// user's home (the home volume), never in the user's repository. Written at create and at every
// start, so a change of the config reaches existing workspaces at their next start.
import type { TarEntry } from "../../docker/tar.ts";

export const CONTAINER_HOME = "/home/nexus";
export const EXTENSIONS_FILE = `${CONTAINER_HOME}/.vscode/extensions.json`;

/** The file's entries for putFiles at "/" (owned by the container user); none when the list is empty. */
export function extensionsFiles(extensions: readonly string[], user: { uid: number; gid: number }): TarEntry[] {
  if (extensions.length === 0) return [];
  const content = JSON.stringify({ recommendations: [...extensions] }, null, 2) + "\n";
  const dir = EXTENSIONS_FILE.slice(1, EXTENSIONS_FILE.lastIndexOf("/"));
  return [
    { name: dir, type: "dir", mode: 0o755, uid: user.uid, gid: user.gid },
    { name: EXTENSIONS_FILE.slice(1), content, mode: 0o644, uid: user.uid, gid: user.gid },
  ];
}
