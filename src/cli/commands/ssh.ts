import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import { hostAlias, includeLineIn } from "../../core/ssh-files.ts";
import type { SshInfo, WorkspaceView } from "../../core/types.ts";
import { writeFileAtomic } from "../../store/atomic.ts";
import type { CliContext } from "../context.ts";
import { writeOut } from "../output.ts";
import { postAttach } from "../post-attach.ts";
import { promptOutput } from "../prompt-output.ts";

/**
 * `nexus workspace ssh` / `nexus console`: the system ssh client with the generated config (pinned
 * host key, agent forwarding per workspace), a login shell in /workspace, or one command.
 */
export async function sshCommand(ctx: CliContext, ref: string | undefined, argv: string[]): Promise<number> {
  const ws = ctx.workspace(ref);
  const client = await ctx.client();
  let view = await client.json<WorkspaceView>("GET", `/api/v1/workspaces/${encodeURIComponent(ws)}`);
  // A workspace paused for idleness resumes in milliseconds: opening a shell in it is reason enough.
  if (view.status === "paused") {
    await client.json("POST", `/api/v1/workspaces/${encodeURIComponent(ws)}/resume`, { blocking: false });
    view = await client.json<WorkspaceView>("GET", `/api/v1/workspaces/${encodeURIComponent(ws)}`);
  }
  const info = await client.json<SshInfo>("GET", `/api/v1/workspaces/${encodeURIComponent(ws)}/ssh`);
  if (!info.enabled) {
    throw new NexusError("INVALID_STATE", `Workspace '${view.name}' is ${view.status}; SSH needs it running`, {
      suggestion: view.status === "paused" ? `Resume it with 'nexus resume ${view.name}'` : `Start it with 'nexus start ${view.name}'`,
      details: { workspaceName: view.name, status: view.status },
    });
  }
  const interactive = argv.length === 0;
  if (interactive) await postAttach(ctx, client, view.name);
  // As ssh does: the words after -- are joined with spaces into one line for the remote shell, so
  // `nexus workspace ssh ws -- "make; make test"` runs both (use `nexus exec` for exact argv).
  const remote = interactive ? `cd /workspace && exec "$SHELL" -l` : `cd /workspace && ${argv.join(" ")}`;
  const args = ["-F", ctx.paths.sshConfig, interactive || process.stdin.isTTY ? "-t" : "-T", hostAlias(view.name), remote];
  if (interactive && !process.stdin.isTTY) args[2] = "-T";
  const { spawn } = await import("node:child_process");
  const child = spawn("ssh", args, { stdio: "inherit" });
  return new Promise((resolve, reject) => {
    child.on("error", (err) =>
      reject(new NexusError("INVALID_ARGUMENT", `Could not run ssh: ${err.message}`, { suggestion: "Install the OpenSSH client ('ssh')" })),
    );
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + 1 : EXIT_CODES.error)));
  });
}

const INCLUDE_COMMENT = "# Added by nexus (nexus ssh-config uninstall removes it)";

/** Adds (or removes) one `Include` line for ~/.nexus/ssh_config at the top of ~/.ssh/config. */
export async function sshConfigCommand(ctx: CliContext, action: string, flags: { yes?: boolean }): Promise<number> {
  const home = process.env.HOME || homedir();
  const file = join(home, ".ssh", "config");
  const current = existsSync(file) ? readFileSync(file, "utf8") : "";
  const include = `Include "${ctx.paths.sshConfig}"`;
  if (action === "install") {
    if (includeLineIn(current, ctx.paths.sshConfig, home)) {
      return done(ctx, { installed: true, changed: false, file }, `${file} already includes ${ctx.paths.sshConfig}`);
    }
    if (!flags.yes) {
      if (!process.stdin.isTTY) {
        throw new NexusError("INVALID_ARGUMENT", `Adding an Include line to ${file} needs your consent`, { suggestion: "Run 'nexus ssh-config install --yes'" });
      }
      const { confirm, isCancel } = await import("@clack/prompts");
      const ok = await confirm({ message: `Add '${include}' to the top of ${file}? Then 'ssh nexus-<name>' works everywhere.`, output: promptOutput() });
      if (isCancel(ok) || !ok) return done(ctx, { installed: false, changed: false, file }, "Nothing changed");
    }
    mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
    // At the top: an Include after a Host line would belong to that Host.
    writeFileAtomic(file, `${INCLUDE_COMMENT}\n${include}\n\n${current}`, 0o600);
    return done(ctx, { installed: true, changed: true, file }, `Added '${include}' to ${file}; try: ssh nexus-<name>`);
  }
  if (action === "uninstall") {
    const lines = current.split("\n");
    const kept = lines.filter((l) => l !== INCLUDE_COMMENT && !includeLineIn(l, ctx.paths.sshConfig, home));
    if (kept.length === lines.length) return done(ctx, { installed: false, changed: false, file }, `${file} does not include ${ctx.paths.sshConfig}`);
    writeFileAtomic(file, kept.join("\n").replace(/^\n+/, ""), 0o600);
    return done(ctx, { installed: false, changed: true, file }, `Removed the Include line from ${file}`);
  }
  throw new NexusError("INVALID_ARGUMENT", `Unknown ssh-config action '${action}'`, { suggestion: "Use 'nexus ssh-config install' or 'nexus ssh-config uninstall'" });
}

async function done(ctx: CliContext, body: object, text: string): Promise<number> {
  await writeOut(ctx.json ? JSON.stringify(body) + "\n" : text + "\n");
  return EXIT_CODES.ok;
}
