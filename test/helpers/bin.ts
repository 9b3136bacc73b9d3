// The program the e2e tests run: the compiled dist/nexus, or with NEXUS_E2E_RUNTIME=deno the same
// source under Deno (test/helpers/nexus-deno), whose daemon then runs under Deno as well.
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

export const E2E_RUNTIME: "bun" | "deno" = process.env.NEXUS_E2E_RUNTIME === "deno" ? "deno" : "bun";

/** dist/nexus, or the Deno wrapper. */
export const NEXUS_BIN = E2E_RUNTIME === "deno" ? join(ROOT, "test", "helpers", "nexus-deno") : join(ROOT, "dist", "nexus");
