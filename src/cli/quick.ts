// The commands people and agents run most often, answered without building the full command table
// (cac and every command module): `version`, `list`/`ls`, the top-level help, and the lifecycle
// verbs pause, resume, stop and start. Only their plain
// forms are taken here (no option but --json); anything else goes to the full CLI, which parses the
// same words the same way. NEXUS_FULL_CLI=1 sends everything to the full CLI (the tests compare both).
import { toNexusError } from "../core/errors.ts";
import { exitCodeFor } from "./exit-codes.ts";
import { nexusPaths } from "../store/paths.ts";
import { CliContext } from "./context.ts";
import { daemonVersion } from "./local-daemon.ts";
import { errorEnvelope, formatError, useColor, writeErr, writeOut } from "./output.ts";

// The top-level help as the full CLI prints it, captured when the binary is built (scripts/build.ts).
declare const NEXUS_HELP: string | undefined;

type Env = Record<string, string | undefined>;

/** The quick form of argv, or undefined when the full CLI must parse it. */
export function quickCommand(argv: readonly string[], env: Env): (() => Promise<number>) | undefined {
  if (env.NEXUS_FULL_CLI === "1") return undefined;
  if (argv.length === 0 || (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h"))) {
    if (typeof NEXUS_HELP !== "string") return undefined;
    return async () => {
      await writeOut(NEXUS_HELP as string);
      return 0;
    };
  }
  const lifecycle = lifecycleForm(argv);
  if (lifecycle) return () => guarded(env, lifecycle.json, (ctx) => runLifecycle(ctx, lifecycle));
  const rest = argv.slice(1);
  if (rest.some((a) => a !== "--json")) return undefined;
  const json = rest.length > 0;
  if (argv[0] === "version") {
    return () =>
      guarded(env, json, async (ctx) => {
        // The daemon is asked before the command's module loads: the answer comes while it loads.
        const asked = daemonVersion(ctx.probeClient());
        asked.catch(() => {}); // versionCommand handles a failure; until then it is no unhandled rejection
        return (await import("./commands/version.ts")).versionCommand(ctx, asked);
      });
  }
  if (argv[0] === "list" || argv[0] === "ls") return () => guarded(env, json, async (ctx) => (await import("./commands/list.ts")).listCommand(ctx, {}));
  return undefined;
}

const LIFECYCLE = ["pause", "resume", "stop", "start"] as const;
type LifecycleVerb = (typeof LIFECYCLE)[number];
type LifecycleForm = { verb: LifecycleVerb; workspace?: string; json: boolean; timeout?: number };

/**
 * pause, resume, stop and start in their plain forms: `<verb> [workspace] [--json]`, and stop's
 * `--timeout <seconds>`. Their time is mostly the CLI's own start, which the command table doubles
 * (bench/lifecycle.ts); anything else (another option, --help) goes to the full CLI.
 */
export function lifecycleForm(argv: readonly string[]): LifecycleForm | undefined {
  const verb = LIFECYCLE.find((v) => v === argv[0]);
  if (!verb) return undefined;
  const form: LifecycleForm = { verb, json: false };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--json") form.json = true;
    else if (verb === "stop" && a === "--timeout" && form.timeout === undefined && /^\d+$/.test(argv[i + 1] ?? "")) form.timeout = Number(argv[++i]);
    else if (!a.startsWith("-") && form.workspace === undefined) form.workspace = a;
    else return undefined;
  }
  return form;
}

async function runLifecycle(ctx: CliContext, f: LifecycleForm): Promise<number> {
  const m = await import("./commands/lifecycle.ts");
  if (f.verb === "pause") return m.pauseCommand(ctx, f.workspace);
  if (f.verb === "resume") return m.resumeCommand(ctx, f.workspace);
  if (f.verb === "stop") return m.stopCommand(ctx, f.workspace, f.timeout === undefined ? {} : { timeout: f.timeout });
  return m.startCommand(ctx, f.workspace);
}

/** Runs a command as the full CLI would: errors as a line for a person, or the JSON envelope. */
async function guarded(env: Env, json: boolean, run: (ctx: CliContext) => Promise<number>): Promise<number> {
  const ctx = new CliContext(nexusPaths(env), { json }, env);
  try {
    return await run(ctx);
  } catch (err) {
    const e = toNexusError(err);
    if (json) await writeOut(JSON.stringify(errorEnvelope(e)) + "\n");
    else await writeErr(formatError(e, useColor(2)));
    return exitCodeFor(e);
  }
}
