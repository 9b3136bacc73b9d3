// Shell commands in a workspace for tests that hold the daemon's services (serviceGraph): a script's
// output, or an error with its exit code and stderr.
import type { Services } from "../../src/daemon/services.ts";

export function workspaceShell(services: () => Services): { run(ws: string, script: string): Promise<string>; inWorktree(ws: string, script: string): Promise<string> } {
  const run = async (ws: string, script: string) => {
    const r = await services().workspaces.execCollect(ws, { command: "sh", args: ["-c", script] });
    if (r.exitCode !== 0) throw new Error(`'${script}' exited ${r.exitCode}: ${r.stderr}`);
    return r.stdout;
  };
  return {
    run,
    /** In the worktree: as the workspace user, or with sudo where the host user is root (the worktree is root's then). */
    inWorktree: (ws, script) => run(ws, `cd /workspace && if [ -w . ]; then sh -c ${JSON.stringify(script)}; else sudo sh -c ${JSON.stringify(script)}; fi`),
  };
}
