// `nexus code [ws]` and `nexus open [ws]`: an IDE on the workspace over Remote-SSH (core/ide/launch.ts
// builds the command line or URI). The launcher and PATH lookup are injected, so tests see exactly
// what would run.
import { spawn } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { loadConfig } from "../../config/load.ts";
import { IDE_NAMES, type IdeName } from "../../config/schema.ts";
import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import { launchPlan, uriOpener, type LaunchPlan } from "../../core/ide/launch.ts";
import { hostAlias, sshConfigIncluded } from "../../core/ssh-files.ts";
import type { SshInfo, WorkspaceView } from "../../core/types.ts";
import type { CliContext } from "../context.ts";
import { writeOut } from "../output.ts";

export interface IdeLauncher {
  platform: string;
  onPath(command: string): boolean;
  /** Starts the program detached; resolves once it started (rejects when it could not). */
  start(argv: readonly string[]): Promise<void>;
}

export const systemLauncher: IdeLauncher = {
  platform: process.platform,
  onPath: (command) => (process.env.PATH ?? "").split(delimiter).some((dir) => dir !== "" && isExecutable(join(dir, command))),
  start: (argv) =>
    new Promise((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: "ignore" });
      child.once("error", reject);
      child.once("spawn", () => {
        child.unref();
        resolve();
      });
    }),
};

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `ide` undefined means the config's ide.default (`nexus open`); `nexus code` passes vscode. */
export async function ideCommand(ctx: CliContext, ref: string | undefined, ide: string | undefined, flags: { print?: boolean }, launcher: IdeLauncher = systemLauncher): Promise<number> {
  const chosen = ide ?? loadConfig(ctx.paths.config, process.env).ide.default;
  if (!(IDE_NAMES as readonly string[]).includes(chosen)) {
    throw new NexusError("INVALID_ARGUMENT", `Unknown IDE '${chosen}'`, { suggestion: `Use one of ${IDE_NAMES.join(", ")}` });
  }
  const ws = ctx.workspace(ref);
  const client = await ctx.client();
  const path = `/api/v1/workspaces/${encodeURIComponent(ws)}`;
  let view = await client.json<WorkspaceView>("GET", path);
  // As `nexus ssh`: a workspace paused for idleness resumes in milliseconds; a stopped one is not started behind your back.
  if (view.status === "paused" && !flags.print) {
    await client.json("POST", `${path}/resume`, { blocking: false });
    view = await client.json<WorkspaceView>("GET", path);
  }
  const info = await client.json<SshInfo>("GET", `${path}/ssh`);
  if (!info.enabled && !flags.print) {
    throw new NexusError("INVALID_STATE", `Workspace '${view.name}' is ${view.status}; an IDE needs it running`, {
      suggestion: `Start it with 'nexus start ${view.name}'`,
      details: { workspaceName: view.name, status: view.status },
    });
  }
  // The address the generated ssh_config uses (the engine's published host; "localhost" may mean ::1).
  const alias = hostAlias(view.name);
  const target = { alias, host: hostNameOf(ctx.paths.sshConfig, alias) ?? info.host, port: info.port, user: info.user, folder: "/workspace" };
  // --print shows what would run even where no opener is installed (the URI is what a user wants then).
  const env = flags.print ? { platform: launcher.platform, onPath: (c: string) => c === uriOpener(launcher.platform) || launcher.onPath(c) } : launcher;
  const plan = launchPlan(chosen as IdeName, target, env);
  if (!flags.print) {
    if (plan.usesSshConfig) await ensureSshAlias(ctx, target.alias);
    try {
      await launcher.start(plan.argv);
    } catch (err) {
      throw new NexusError("INVALID_ARGUMENT", `Could not run ${plan.argv[0]}: ${(err as Error).message}`, { suggestion: `Install ${chosen}, or open it yourself: ${plan.uri ?? plan.argv.join(" ")}` });
    }
  }
  await writeOut(ctx.json ? JSON.stringify(planJson(plan, view.name, flags.print === true)) + "\n" : planText(plan, view.name, flags.print === true));
  return EXIT_CODES.ok;
}

function planJson(plan: LaunchPlan, workspace: string, printed: boolean): Record<string, unknown> {
  return { workspace, ide: plan.ide, argv: plan.argv, ...(plan.uri ? { uri: plan.uri } : {}), opened: !printed };
}

function planText(plan: LaunchPlan, workspace: string, printed: boolean): string {
  const line = plan.argv.map((a) => (/^[\w@%+=:,./#?&-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
  return printed ? `${line}\n` : `Opening ${workspace} in ${plan.ide}: ${line}\n`;
}

/** The HostName of `alias` in the generated ssh_config, if it has the entry. */
function hostNameOf(file: string, alias: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const lines = readFileSync(file, "utf8").split("\n").map((l) => l.trim());
  const at = lines.indexOf(`Host ${alias}`);
  if (at < 0) return undefined;
  for (const l of lines.slice(at + 1)) {
    if (/^Host\s/.test(l)) return undefined;
    const m = /^HostName\s+(\S+)$/.exec(l);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * The IDE's ssh reads ~/.ssh/config: it must include ~/.nexus/ssh_config (which holds the alias), so
 * a terminal is asked to add the Include line (`nexus ssh-config install`); elsewhere it is an error.
 */
async function ensureSshAlias(ctx: CliContext, alias: string): Promise<void> {
  const file = ctx.paths.sshConfig;
  if (!existsSync(file) || !readFileSync(file, "utf8").split("\n").some((l) => l.trim() === `Host ${alias}`)) {
    throw new NexusError("INVALID_STATE", `${file} has no 'Host ${alias}' entry`, {
      suggestion: ctx.remote ? "The ssh alias comes from a local daemon; with -u/--url connect with 'nexus ssh' instead" : "Run 'nexus ssh-config install' (the daemon writes the entry when the workspace starts)",
    });
  }
  const home = process.env.HOME || homedir();
  if (sshConfigIncluded(home, file)) return;
  if (process.stdin.isTTY && !ctx.json) {
    const { sshConfigCommand } = await import("./ssh.ts");
    await sshConfigCommand(ctx, "install", {});
    if (sshConfigIncluded(home, file)) return;
  }
  throw new NexusError("INVALID_STATE", `~/.ssh/config does not include ${file}, so the IDE cannot resolve '${alias}'`, {
    suggestion: "Run 'nexus ssh-config install --yes' once (or use --print to see the command line)",
  });
}
