import { spawnSync } from "node:child_process";
import { cac } from "cac";
import { exitCodeFor, EXIT_CODES, NexusError, toNexusError } from "../core/errors.ts";
import { nexusPaths } from "../store/paths.ts";
import { buildInfo } from "../version.ts";
import { tokenCommand } from "./commands/token.ts";
import { daemonCommand, versionCommand } from "./commands/daemon.ts";
import { sshCommand, sshConfigCommand } from "./commands/ssh.ts";
import { pauseCommand, restartCommand, resumeCommand, startCommand, stopCommand, updateCommand, urlCommand, useCommand } from "./commands/lifecycle.ts";
import { createCommand, type CreateFlags, destroyCommand, execCommand, listCommand, statusCommand } from "./commands/workspaces.ts";
import { CliContext, type GlobalOptions } from "./context.ts";
import { errorEnvelope, formatError, useColor, writeErr, writeOut } from "./output.ts";

// `nexus workspace <verb>` (nexusd-overview.md) is the same command as the top-level verb.
const WORKSPACE_VERBS: Record<string, string> = {
  create: "create", list: "list", ls: "list", status: "status", exec: "exec", delete: "destroy", destroy: "destroy",
  ssh: "ssh", start: "start", stop: "stop", restart: "restart", pause: "pause", resume: "resume", use: "use", switch: "use", url: "url", update: "update",
};

/** Parses argv and runs one command; resolves with the process exit code. */
export async function runCli(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  if (argv[0] === "workspace") {
    const verb = argv[1] && WORKSPACE_VERBS[argv[1]];
    if (verb) argv = [verb, ...argv.slice(2)];
  }
  const cli = cac("nexus");
  let pending: Promise<number> | undefined;
  let ctx: CliContext | undefined;
  const run = (fn: (c: CliContext) => Promise<number>) => (opts: GlobalOptions) => {
    ctx = new CliContext(nexusPaths(env), opts, env);
    pending = fn(ctx);
  };

  cli.option("--json", "Print one JSON document on stdout (logs stay on stderr)");
  cli.option("-u, --url <url>", "API server URL of a remote daemon (default: the local daemon's unix socket)");
  cli.option("-t, --token <token>", "Authentication token for --url");

  cli
    .command("create [name]", "Create a workspace: a git worktree on its own branch, a container, and SSH into it")
    .option("-d, --display-name <name>", "Display name")
    .option("-r, --repo <url>", "Repository URL to clone first")
    .option("-b, --branch <branch>", "Branch of the worktree (default: nexus/<name>)")
    .option("--from-branch <branch>", "Base of a new branch (default: the repository's current branch)")
    .option("--backend <backend>", "Backend (docker)", { default: "docker" })
    .option("--no-worktree", "Mount the repository itself instead of a new worktree")
    .option("--resources <preset>", "small | medium | large | xlarge")
    .option("-p, --port <port>", "Container port to publish on 127.0.0.1 (repeatable)")
    .option("-e, --env <KEY=VALUE>", "Environment variable for the workspace (repeatable)")
    .option("--image <image>", "Base image (default: defaults.image from the config)")
    .option("--no-forward-agent", "Do not forward your ssh-agent into this workspace")
    .example("nexus create feature-auth")
    .example("nexus create review-42 --from-branch main -p 3000")
    .example("nexus create              # on a terminal: asks for name, branch, resources, ports, image")
    .action((name: string | undefined, opts) => run((c) => createOrAsk(c, name, opts))(opts));

  cli
    .command("list", "List workspaces")
    .alias("ls")
    .option("--status <status>", "Only workspaces with this status")
    .option("--backend <backend>", "Only workspaces with this backend")
    .example("nexus list --json")
    .action((opts) => run((c) => listCommand(c, opts))(opts));

  cli
    .command("status [workspace]", "Show a workspace's status, ports and activity")
    .example("nexus status feature-auth")
    .action((ws: string | undefined, opts) => run((c) => statusCommand(c, ws))(opts));

  cli
    .command("exec [workspace]", "Run a command in the workspace (over SSH, in /workspace); exits with its exit code")
    .usage("exec <workspace> [--cwd dir] [-e KEY=VALUE] -- <command> [args...]")
    .option("--cwd <dir>", "Working directory inside the workspace (default: /workspace)")
    .option("-e, --env <KEY=VALUE>", "Environment variable for the command (repeatable)")
    .option("--timeout <seconds>", "Kill the command after this many seconds")
    .example("nexus exec feature-auth -- git status")
    .example("nexus exec feature-auth -- sh -c 'npm test && npm run lint'")
    .action((ws: string | undefined, opts) => run((c) => execCommand(c, ws, (opts["--"] as string[]) ?? [], opts))(opts));

  cli
    .command("destroy [workspace]", "Remove a workspace (refuses while its worktree holds uncommitted or unpushed work)")
    .alias("delete")
    .option("-f, --force", "Destroy even with uncommitted or unpushed work in the worktree")
    .example("nexus destroy feature-auth")
    .action((ws: string | undefined, opts) => run((c) => destroyCommand(c, ws, opts))(opts));

  cli
    .command("ssh [workspace]", "Open a login shell in /workspace over SSH (or run one command after --)")
    .usage("ssh <workspace> [-- command args...]")
    .example("nexus workspace ssh feature-auth")
    .example("nexus workspace ssh feature-auth -- git log -1")
    .action((ws: string | undefined, opts) => run((c) => interactiveSsh(c, ws, (opts["--"] as string[]) ?? []))(opts));

  cli
    .command("console [workspace]", "Interactive shell in the workspace (as 'nexus workspace ssh')")
    .example("nexus console feature-auth")
    .action((ws: string | undefined, opts) => run((c) => interactiveSsh(c, ws, (opts["--"] as string[]) ?? []))(opts));

  cli
    .command("ssh-config <action>", "install | uninstall: one Include line in ~/.ssh/config, so 'ssh nexus-<name>' works")
    .option("-y, --yes", "Do not ask")
    .example("nexus ssh-config install --yes")
    .action((action: string, opts) => run((c) => sshConfigCommand(c, action, opts))(opts));

  cli
    .command("start [workspace]", "Start a stopped workspace and wait until SSH answers")
    .example("nexus start feature-auth")
    .action((ws: string | undefined, opts) => run((c) => startCommand(c, ws))(opts));

  cli
    .command("stop [workspace]", "Stop a running workspace (files stay; processes end)")
    .option("--timeout <seconds>", "Seconds to wait before killing", { default: 30 })
    .example("nexus stop feature-auth --timeout 10")
    .action((ws: string | undefined, opts) => run((c) => stopCommand(c, ws, opts))(opts));

  cli
    .command("restart [workspace]", "Stop, then start a workspace")
    .option("--timeout <seconds>", "Seconds to wait before killing", { default: 30 })
    .example("nexus restart feature-auth")
    .action((ws: string | undefined, opts) => run((c) => restartCommand(c, ws, opts))(opts));

  cli
    .command("pause [workspace]", "Freeze a workspace: processes and memory are kept, resume is near-instant")
    .example("nexus pause feature-auth")
    .action((ws: string | undefined, opts) => run((c) => pauseCommand(c, ws))(opts));

  cli
    .command("resume [workspace]", "Resume a paused workspace")
    .example("nexus resume feature-auth")
    .action((ws: string | undefined, opts) => run((c) => resumeCommand(c, ws))(opts));

  cli
    .command("use [workspace]", "Make a workspace the active one (resumes it if paused); commands default to it")
    .alias("switch")
    .option("--clear", "No active workspace")
    .example("nexus use feature-auth")
    .action((ws: string | undefined, opts) => run((c) => useCommand(c, ws, opts))(opts));

  cli
    .command("url [workspace]", "Print the URL of the workspace's first published port")
    .example("nexus url feature-auth")
    .action((ws: string | undefined, opts) => run((c) => urlCommand(c, ws))(opts));

  cli
    .command("update [workspace]", "Change resources (applied live) or the idle timeout")
    .option("--resources <preset>", "small | medium | large | xlarge")
    .option("--cpu <n>", "CPUs (with --memory)")
    .option("--memory <size>", "Memory, e.g. 4GB (with --cpu)")
    .option("--idle-timeout <duration>", "e.g. 45m, or seconds; 0 turns idle pausing off")
    .option("--forward-agent <yes|no>", "Forward your ssh-agent into the workspace, or not")
    .example("nexus update feature-auth --resources large")
    .action((ws: string | undefined, opts) => run((c) => updateCommand(c, ws, opts))(opts));

  cli
    .command("daemon [action]", "Run the daemon in the foreground, or: start | stop | status | install | uninstall (as a systemd/launchd service)")
    .option("-p, --port <port>", "Also listen on TCP 127.0.0.1:<port> (not available yet)")
    .option("-w, --workspace-dir <dir>", "Workspace directory path (NEXUS_HOME)")
    .option("--print", "install: show the service file instead of installing it")
    .option("--system", "install/uninstall: a system-wide systemd unit (/etc/systemd/system, User=you) instead of a user unit")
    .example("nexus daemon status")
    .example("nexus daemon install          # start at login, restart on failure")
    .example("nexus daemon install --print")
    .action((action: string | undefined, opts) => run((c) => daemonCommand(c, action ?? "foreground", opts))(opts));

  cli
    .command("doctor", "Check Docker, the workspace image, git, ssh, ssh-agent, ports, the daemon, permissions and disk space")
    .example("nexus doctor")
    .example("nexus doctor --json")
    .action((opts) => run(async (c) => (await import("./commands/doctor.ts")).doctorCommand(c))(opts));

  cli
    .command("config [action] [key] [value]", "Show the effective configuration, or: get <key> | set <key> <value> (validated, written to config.yaml)")
    .example("nexus config")
    .example("nexus config get defaults.idle_timeout")
    .example("nexus config set defaults.idle_timeout 45m")
    .action((action: string | undefined, key: string | undefined, value: string | undefined, opts) =>
      run(async (c) => (await import("./commands/config.ts")).configCommand(c, action, key, value === undefined ? undefined : String(value)))(opts),
    );

  cli
    .command("completion <shell>", "Print a completion script for bash, zsh or fish")
    .example("source <(nexus completion bash)")
    .example("nexus completion fish > ~/.config/fish/completions/nexus.fish")
    .action((shell: string, opts) => run(async (c) => (await import("./commands/completion.ts")).completionCommand(c, shell, cli))(opts));

  cli
    .command("token <action>", "create: print a JWT signed with the daemon token, for -t/NEXUS_TOKEN on a TCP client")
    .option("--ttl <duration>", "Lifetime, e.g. 1h or 30m", { default: "1h" })
    .example("nexus token create --ttl 8h")
    .action((action: string, opts) =>
      run((c) => {
        if (action !== "create") throw new NexusError("INVALID_ARGUMENT", `Unknown token action '${action}'`, { suggestion: "Use 'nexus token create [--ttl 1h]'" });
        return tokenCommand(c, opts);
      })(opts),
    );

  cli
    .command("version", "Print the version of the CLI and of the running daemon")
    .example("nexus version --json")
    .action((opts) => run((c) => versionCommand(c))(opts));

  // A command's help shows what it does, and its examples indented like the other sections.
  cli.help((sections) => {
    const cmd = cli.matchedCommand;
    const out = sections.map((s) => (s.title === "Examples" ? { ...s, body: s.body.split("\n").map((l) => `  ${l}`).join("\n") } : s));
    if (cmd && cmd.name !== "" && cmd.description) out.splice(1, 0, { body: cmd.description });
    return out;
  });
  cli.version(buildInfo().version);

  const json = argv.includes("--json");
  try {
    cli.parse(["nexus", "nexus", ...argv], { run: true });
    if (!pending) {
      if (cli.options.help || cli.options.version) return EXIT_CODES.ok;
      if (argv.length === 0) {
        cli.outputHelp();
        return EXIT_CODES.ok;
      }
      throw new NexusError("INVALID_ARGUMENT", `Unknown command '${argv[0]}'`, { suggestion: "Run 'nexus --help' to see the commands" });
    }
    return await pending;
  } catch (err) {
    const e = cacError(err) ?? toNexusError(err);
    if (json) await writeOut(JSON.stringify(errorEnvelope(e)) + "\n");
    else await writeErr(formatError(e, useColor(process.stderr) && !ctx?.json));
    return exitCodeFor(e);
  }
}

/** A terminal session has no JSON form; `exec --json` is the machine-readable way to run a command. */
function interactiveSsh(ctx: CliContext, ws: string | undefined, argv: string[]): Promise<number> {
  if (ctx.json) {
    throw new NexusError("INVALID_ARGUMENT", "An SSH session is interactive and has no --json output", {
      suggestion: `Use 'nexus exec ${ws ?? "<workspace>"} --json -- ${argv.length ? argv.join(" ") : "<command>"}' for {exitCode, stdout, stderr}`,
    });
  }
  return sshCommand(ctx, ws, argv);
}

/** `nexus create` with no name on a terminal asks (the wizard); otherwise the flags say it all. */
async function createOrAsk(ctx: CliContext, name: string | undefined, flags: CreateFlags): Promise<number> {
  if (name || ctx.json || !process.stdin.isTTY || !process.stdout.isTTY) return createCommand(ctx, name, flags);
  const { runCreateWizard, withSpinner } = await import("./wizard.ts");
  const branch = spawnSync("git", ["rev-parse", "--abbrev-ref", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const answers = await runCreateWizard(flags, branch.status === 0 ? branch.stdout.trim() : undefined);
  if (!answers) return 130;
  return withSpinner(`Creating ${answers.name}`, (progress) => {
    ctx.log = async (line) => progress(line);
    return createCommand(ctx, answers.name, answers.flags);
  });
}

/** cac's own parse errors (unknown option, missing argument) are usage errors. */
function cacError(err: unknown): NexusError | undefined {
  if (err instanceof Error && err.name === "CACError") {
    return new NexusError("INVALID_ARGUMENT", err.message, { suggestion: "Run 'nexus <command> --help' for its usage" });
  }
  return undefined;
}
