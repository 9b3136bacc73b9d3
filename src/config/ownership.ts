// NEXUS_HOME and config.yaml decide what the daemon runs (ssh_config's client_options, hooks of
// user-configured workspaces, the engine address): one that another user owns or may write is
// another user's way into this one's account, so it is refused, never adopted.
import { statSync } from "node:fs";
import { NexusError } from "../kernel/errors.ts";

/** Why `path` cannot be trusted by the current user, or undefined when it can (or does not exist). */
export function untrustedBecause(path: string, uid = process.getuid?.() ?? 0): string | undefined {
  let st;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  // The current user's own, or root's (root can do anything to this account anyway).
  if (st.uid !== uid && st.uid !== 0) return `${path} belongs to uid ${st.uid}, not to you (uid ${uid})`;
  if ((st.mode & 0o002) !== 0 && !(st.isDirectory() && (st.mode & 0o1000) !== 0 && st.uid === uid)) return `${path} is writable by every user (mode 0${(st.mode & 0o7777).toString(8)})`;
  return undefined;
}

/** Throws PERMISSION_DENIED when NEXUS_HOME or its config file is another user's or world-writable. */
export function requireTrusted(paths: readonly string[]): void {
  for (const p of paths) {
    const why = untrustedBecause(p);
    if (why) {
      throw new NexusError("PERMISSION_DENIED", `Refusing to use ${p}: ${why}`, {
        suggestion: `Use a NEXUS_HOME of your own ('chown -R $(id -u) ${p}' and 'chmod go-w ${p}' if it is yours); 'nexus doctor' checks it`,
        details: { path: p },
      });
    }
  }
}
