import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { TrashEntry } from "../../core/trash.ts";
import type { CliContext } from "../context.ts";
import { writeOut } from "../output.ts";

/** `nexus trash [list] | restore <id> [--to path] | empty [id]`: what destroy kept of worktrees. */
export async function trashCommand(ctx: CliContext, action: string | undefined, id: string | undefined, flags: { to?: string }): Promise<number> {
  const client = await ctx.client();
  switch (action ?? "list") {
    case "list": {
      const r = await client.json<{ entries: TrashEntry[] }>("GET", "/api/v1/trash");
      if (ctx.json) await writeOut(JSON.stringify(r, null, 2) + "\n");
      else if (r.entries.length === 0) await writeOut("The trash is empty\n");
      else for (const e of r.entries) await writeOut(`${e.id}  ${e.workspace}  ${e.trashedAt}  ${e.ignoredCount} ignored, ${e.uncommittedCount} uncommitted  ${e.path}\n`);
      return EXIT_CODES.ok;
    }
    case "restore": {
      if (!id) throw new NexusError("INVALID_ARGUMENT", "No trash entry given", { suggestion: "nexus trash restore <id> [--to <path>] (ids: nexus trash list)" });
      const r = await client.json<{ id: string; path: string }>("POST", `/api/v1/trash/${encodeURIComponent(id)}/restore`, flags.to ? { to: flags.to } : {});
      await writeOut(ctx.json ? JSON.stringify(r) + "\n" : `Restored ${r.id} to ${r.path}\n`);
      return EXIT_CODES.ok;
    }
    case "empty": {
      const r = await client.json<{ removed: string[] }>("DELETE", id ? `/api/v1/trash/${encodeURIComponent(id)}` : "/api/v1/trash");
      await writeOut(ctx.json ? JSON.stringify(r) + "\n" : `Removed ${r.removed.length} trash entr${r.removed.length === 1 ? "y" : "ies"}\n`);
      return EXIT_CODES.ok;
    }
    default:
      throw new NexusError("INVALID_ARGUMENT", `Unknown trash action '${action}'`, { suggestion: "Use 'nexus trash list', 'nexus trash restore <id>' or 'nexus trash empty [id]'" });
  }
}
