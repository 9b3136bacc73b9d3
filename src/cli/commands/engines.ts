import type { EngineView } from "../../core/engines.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import type { CliContext } from "../context.ts";
import { writeOut } from "../output.ts";

/** `nexus engines [--json]`: the configured engines, reachable or not (an extension of the spec). */
export async function enginesCommand(ctx: CliContext): Promise<number> {
  const client = await ctx.client();
  const r = await client.json<{ engines: EngineView[] }>("GET", "/api/v1/engines");
  if (ctx.json) {
    await writeOut(JSON.stringify(r, null, 2) + "\n");
    return EXIT_CODES.ok;
  }
  const rows = r.engines.map((e) => [
    `${e.name}${e.default ? " (default)" : ""}`,
    e.host,
    e.remote ? "remote" : "local",
    e.reachable ? `docker ${e.version}` : "unreachable",
    `${e.workspaces} workspace${e.workspaces === 1 ? "" : "s"}`,
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  let out = "";
  for (const [i, row] of rows.entries()) {
    out += row.map((cell, j) => (j < 4 ? cell.padEnd(widths[j]!) : cell)).join("  ") + "\n";
    const e = r.engines[i]!;
    if (e.error) out += `  ${e.error.message}${e.error.suggestion ? `\n  → ${e.error.suggestion}` : ""}\n`;
  }
  await writeOut(out);
  return EXIT_CODES.ok;
}
