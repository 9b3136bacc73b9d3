// devcontainer.json's postAttachCommand (hook `post-attach`), run by every interactive attach the CLI
// makes: `nexus workspace ssh` with no command, and `nexus console`.
import { NexusError } from "../core/errors.ts";
import type { CliContext } from "./context.ts";

type Client = Awaited<ReturnType<CliContext["client"]>>;

/**
 * Runs the workspace's post-attach hook through the daemon like any hook (log, timeout); a failure
 * is reported on stderr and the shell opens anyway. A workspace without one answers NOT_FOUND: nothing
 * to run, and nothing in the operation history (src/core/trace/facades.ts).
 */
export async function postAttach(ctx: CliContext, client: Client, workspace: string): Promise<void> {
  try {
    const r = await client.json<{ exitCode: number; timedOut: boolean; logFile: string; output: string }>("POST", `/api/v1/workspaces/${encodeURIComponent(workspace)}/hooks/post-attach`, {});
    if (r.exitCode !== 0) await ctx.log(`post-attach ${r.timedOut ? "ran past its timeout" : `exited with code ${r.exitCode}`} (log: ${r.logFile}):\n${r.output}`);
  } catch (err) {
    if (!(err instanceof NexusError && err.code === "NOT_FOUND")) await ctx.log(`post-attach: ${(err as Error).message}`);
  }
}
