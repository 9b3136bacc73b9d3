// The workspace side's watcher of the unison provider: `inotifywait -m -r` inside, over the
// session's multiplexed ssh, reporting each changed path (relative to the root; undefined for an
// event outside it, which asks for a full pass). Unison's and the fast route's temporary files
// (`.unison.*`) and the bare-name excludes are left out inside, so they never cross the wire.
import type { ChildProcess } from "node:child_process";
import type { ProcessTracker } from "./processes.ts";
import { SSH_ALIAS } from "./ssh-files.ts";

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function watchWorkspace(
  procs: ProcessTracker,
  ssh: string,
  root: string,
  exclude: readonly string[],
  on: { paths(paths: Array<string | undefined>): void; closed(code: number | null, stderr: string): void },
): ChildProcess {
  const names = exclude.filter((p) => !p.replace(/^\/+|\/+$/g, "").includes("/"));
  const regex = [...names.map((p) => `(^|/)${p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}(/|$)`), "/\\.unison\\."].join("|");
  // The watcher ends with its ssh: when the daemon goes (even by SIGKILL), stdin closes, `cat` returns, inotifywait is killed.
  const script = [
    "command -v inotifywait >/dev/null 2>&1 || exit 127",
    `inotifywait -m -r -q -e modify,close_write,create,delete,move,attrib --format '%w%f' --exclude ${shq(regex)} ${shq(root)} & p=$!`,
    "cat >/dev/null; kill $p 2>/dev/null",
  ].join("; ");
  const child = procs.spawn(ssh, [SSH_ALIAS, "sh", "-c", shq(script)], { stdio: ["pipe", "pipe", "pipe"] });
  const prefix = root.replace(/\/+$/, "") + "/";
  let buf = "";
  let err = "";
  child.stdout!.on("data", (b: Buffer) => {
    buf += b.toString("utf8");
    if (!buf.includes("\n")) return;
    const lines = buf.slice(0, buf.lastIndexOf("\n")).split("\n");
    buf = buf.slice(buf.lastIndexOf("\n") + 1);
    on.paths(lines.map((l) => (l.startsWith(prefix) ? l.slice(prefix.length).replace(/\/+$/, "") : undefined)));
  });
  child.stderr!.on("data", (b: Buffer) => (err = (err + b.toString("utf8")).slice(-2000)));
  child.on("error", () => undefined);
  child.on("close", (code) => on.closed(code, err));
  return child;
}
