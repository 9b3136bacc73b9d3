import { EXIT_CODES } from "../exit-codes.ts";
import type { CliContext } from "../context.ts";
import { writeOut } from "../output.ts";

/**
 * `nexus token create [--ttl 1h]`: asks the daemon (local, or -u/--url with -t) for a JWT signed
 * with its token, for NEXUS_TOKEN on another client; prints the token (--json: {token, expiresAt}).
 */
export async function tokenCommand(ctx: CliContext, flags: { ttl?: string | number }): Promise<number> {
  const ttl = flags.ttl ?? "1h";
  const r = await (await ctx.client()).json<{ token: string; expiresAt: string }>("POST", "/api/v1/tokens", { ttl });
  await writeOut(ctx.json ? JSON.stringify(r, null, 2) + "\n" : `${r.token}\n`);
  if (!ctx.json) await ctx.log(`Expires at ${r.expiresAt}`);
  return EXIT_CODES.ok;
}
