import { cac } from "cac";
import { NexusError, toNexusError } from "../core/errors.ts";
import { exitCodeFor, EXIT_CODES } from "./exit-codes.ts";
import { nexusPaths } from "../store/paths.ts";
import { buildInfo } from "../version.ts";
import { tokenCommand } from "./commands/token.ts";
import { daemonCommand } from "./commands/daemon.ts";
import { versionCommand } from "./commands/version.ts";
import { trashCommand } from "./commands/trash.ts";
import { sshCommand, sshConfigCommand } from "./commands/ssh.ts";
import { pauseCommand, restartCommand, resumeCommand, startCommand, stopCommand, updateCommand, urlCommand, useCommand } from "./commands/lifecycle.ts";
import { createCommand, type CreateFlags, destroyCommand, statusCommand } from "./commands/workspaces.ts";
import { listCommand } from "./commands/list.ts";
import { execCommand } from "./commands/exec.ts";
import { CliContext, type GlobalOptions } from "./context.ts";
import { CP_STDIO } from "./commands/cp-args.ts";
import { errorEnvelope, formatError, useColor, writeErr, writeOut } from "./output.ts";

// `nexus workspace <verb>` (nexusd-overview.md) is the same command as the top-level verb.
const WORKSPACE_VERBS: Record<string, string> = {
  create: "create", list: "list", ls: "list", status: "status", exec: "exec", delete: "destroy", destroy: "destroy",
  ssh: "ssh", start: "start", services: "services", hook: "hook", stop: "stop", restart: "restart", pause: "pause", resume: "resume", use: "use", switch: "use", url: "url", update: "update",
};

/**
 * `exec -t` means a terminal as in docker exec, while the global `-t` is the token: after the word
 * `exec` (and before `--`), -t, -i and -it are exec's own flags, spelled out for the parser.
 */
export function execShortFlags(argv: readonly string[]): string[] {
  const sep = argv.indexOf("--");
  return argv.flatMap((a, i) => {
    if (i === 0 || (sep >= 0 && i >= sep) || !/^-[it]{1,2}$/.test(a)) return [a];
    return [...a.slice(1)].map((f) => (f === "t" ? "--tty" : "--interactive"));
  });
}

/** Parses argv and runs one command; resolves with the process exit code. */
export async function runCli(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  if (argv[0] === "workspace") {
    const verb = argv[1] && WORKSPACE_VERBS[argv[1]];
    if (verb) argv = [verb, ...argv.slice(2)];
  }
  if (argv[0] === "exec") argv = execShortFlags(argv);
  // The parser drops a bare '-'; cp's '-' (a tar on stdin/stdout) travels as a marker no path can be.
  if (argv[0] === "cp") argv = argv.map((a, i) => (i > 0 && a === "-" ? CP_STDIO : a));
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
    .command("workspace [verb]", "The workspace commands under one name: 'nexus workspace <verb>' is 'nexus <verb>'")
    .usage(`workspace <${[...new Set(Object.keys(WORKSPACE_VERBS))].join("|")}> [args...]`)
    .example("nexus workspace create feature-auth")
    .example("nexus workspace ssh feature-auth -- git log -1")
    .example("nexus workspace create --help     # a verb's own help")
    .action((verb: string | undefined, opts) =>
      run(async (c) => {
        if (verb) throw new NexusError("INVALID_ARGUMENT", `Unknown workspace command '${verb}'`, { suggestion: "Run 'nexus workspace --help' to see the verbs" });
        if (c.json) await writeOut(JSON.stringify({ verbs: Object.keys(WORKSPACE_VERBS) }) + "\n");
        else cli.outputHelp();
        return EXIT_CODES.ok;
      })(opts),
    );

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
    .option("--from-checkpoint <checkpoint>", "Start from a checkpoint (id or name): its commit, container filesystem, home and worktree files")
    .option("--devcontainer <path>", "Which devcontainer.json, when the repository has several (e.g. .devcontainer/python)")
    .option("--trust", "Let a cloned repository's devcontainer.json run its initializeCommand on this machine")
    .option("--label <key=value>", "Label the workspace, Kubernetes-style (repeatable); 'nexus list -l' selects by labels")
    .option("--engine <name>", "Run it on this engine (engines: in the config; default: defaults.engine, else local)")
    .example("nexus create feature-auth")
    .example("nexus create review-42 --from-branch main -p 3000")
    .example("nexus create              # on a terminal: asks for name, branch, resources, ports, image")
    .action((name: string | undefined, opts) => run((c) => createOrAsk(c, name, opts))(opts));

  cli
    .command("list", "List workspaces")
    .alias("ls")
    .option("--status <status>", "Only workspaces with this status")
    .option("--backend <backend>", "Only workspaces with this backend")
    .option("-l, --label-selector <selector>", "Only workspaces whose labels match, e.g. 'team=web,tier in (api,db),!experimental'")
    .example("nexus list --json")
    .example("nexus list -l team=web")
    .action((opts) => run((c) => listCommand(c, opts))(opts));

  cli
    .command("status [workspace]", "Show a workspace's status, ports and activity")
    .example("nexus status feature-auth")
    .action((ws: string | undefined, opts) => run((c) => statusCommand(c, ws))(opts));

  cli
    .command("exec [workspace]", "Run a command in the workspace (over SSH, in /workspace); exits with its exit code")
    .usage("exec [-i] [-t] <workspace> [--cwd dir] [-e KEY=VALUE] -- <command> [args...]")
    .option("--cwd <dir>", "Working directory inside the workspace (default: /workspace)")
    .option("-e, --env <KEY=VALUE>", "Environment variable for the command (repeatable)")
    .option("--timeout <seconds>", "Kill the command after this many seconds")
    .option("-d, --detach", "Run it in a new session and print the session's id at once (see 'nexus sessions')")
    .option("-i, --interactive", "Forward stdin from a terminal too (stdin that is a pipe or file is always forwarded)")
    .option("--tty", "(-t) Give the command a pseudo-terminal (with -i: an interactive shell, nexus exec -it ws -- bash); after 'exec', -t is this, not --token")
    .example("nexus exec feature-auth -- git status")
    .example("nexus exec --detach feature-auth -- npm test")
    .example("echo hello | nexus exec feature-auth -- wc -l")
    .example("nexus exec -it feature-auth -- bash")
    .example("nexus exec feature-auth -- sh -c 'npm test && npm run lint'")
    .action((ws: string | undefined, opts) => run((c) => execCommand(c, ws, (opts["--"] as string[]) ?? [], opts))(opts));

  cli
    .command("destroy [workspace]", "Remove a workspace (refuses while its worktree holds uncommitted or unpushed work)")
    .alias("delete")
    .option("-f, --force", "Destroy even with uncommitted or unpushed work in the worktree")
    .option("--keep-checkpoints", "Keep the workspace's checkpoints (new workspaces can start from them)")
    .example("nexus destroy feature-auth")
    .action((ws: string | undefined, opts) => run((c) => destroyCommand(c, ws, opts))(opts));

  cli
    .command("ssh [workspace]", "Open a login shell in /workspace over SSH (or run one command after --)")
    .usage("ssh <workspace> [-- command args...]")
    .example("nexus workspace ssh feature-auth")
    .example("nexus workspace ssh feature-auth -- git log -1")
    .action((ws: string | undefined, opts) => run((c) => interactiveSsh(c, ws, (opts["--"] as string[]) ?? []))(opts));

  cli
    .command("console [workspace]", "Interactive shell in a new session: survives the terminal and the daemon; Ctrl-\\ detaches, 'nexus sessions attach' comes back")
    .option("--detach-key <key>", "Key that detaches, e.g. ctrl-] (default ctrl-\\, or $NEXUS_DETACH_KEY)")
    .example("nexus console feature-auth")
    .example("nexus console feature-auth --detach-key ctrl-]")
    .action((ws: string | undefined, opts) => run(async (c) => (await import("./commands/sessions.ts")).consoleCommand(c, ws, opts))(opts));

  cli
    .command("sessions [...args]", "Sessions (tmux in the workspace): list [workspace] | attach <id> | logs <id> [--tail N] [-f] | send <id> <text> [--enter] | kill <id>")
    .usage("sessions list [workspace] | attach <id> | logs <id> [--tail 100] [-f] | send <id> <text> [--enter] | kill <id>")
    .option("--tail <lines>", "logs: how many of the last lines (default 100)")
    .option("-f, --follow", "logs: keep printing new lines until the command ends (exits with its code) or Ctrl-C")
    .option("--enter", "send: press Enter after the text")
    .option("--detach-key <key>", "attach: key that detaches (default ctrl-\\, or $NEXUS_DETACH_KEY)")
    .example("nexus sessions list")
    .example("nexus sessions attach ses-1a2b3c4d")
    .example("nexus sessions logs ses-1a2b3c4d --tail 50 -f")
    .example("nexus sessions send ses-1a2b3c4d 'print(1+1)' --enter")
    .example("nexus sessions kill ses-1a2b3c4d")
    .action((args: string[], opts) => run(async (c) => (await import("./commands/sessions.ts")).sessionsCommand(c, args, opts))(opts));

  cli
    .command("ssh-config <action>", "install | uninstall: one Include line in ~/.ssh/config, so 'ssh nexus-<name>' works")
    .option("-y, --yes", "Do not ask")
    .example("nexus ssh-config install --yes")
    .action((action: string, opts) => run((c) => sshConfigCommand(c, action, opts))(opts));

  cli
    .command("start [workspace]", "Start a stopped workspace: SSH, pre-start hook, services (waits until healthy), post-start hook")
    .option("--skip-hooks", "Do not run the project's hooks")
    .option("--skip-services", "Do not start the project's services")
    .option("--no-wait", "Return once services are started, without waiting until they are healthy")
    .option("--wait-timeout <seconds>", "How long to wait for services to become healthy (default 120)")
    .example("nexus start feature-auth")
    .example("nexus start feature-auth --skip-hooks --no-wait")
    .action((ws: string | undefined, opts) => run((c) => startCommand(c, ws, opts))(opts));

  cli
    .command("services [...args]", "List a workspace's services; or: logs <workspace> <service> [--tail N] [-f] | restart <workspace> <service>")
    .usage("services [workspace] | services logs [workspace] <service> [--tail 100] [-f] | services restart [workspace] <service>")
    .option("--tail <lines>", "logs: how many of the last lines (default 100)")
    .option("-f, --follow", "logs: keep printing new lines until Ctrl-C")
    .example("nexus services feature-auth")
    .example("nexus services logs feature-auth web --tail 50 -f")
    .example("nexus services restart feature-auth web")
    .action((args: string[], opts) => run(async (c) => (await import("./commands/services.ts")).servicesCommand(c, args, opts))(opts));

  cli
    .command("hook <workspaceOrHook> [hook]", "Run one of the project's hooks now (pre-start, post-start, pre-stop, post-stop, health-check); exits with its code")
    .usage("hook [workspace] <hook> [--timeout seconds]")
    .option("--timeout <seconds>", "Kill the hook after this many seconds (default: the hook's own, 300)")
    .example("nexus hook feature-auth health-check")
    .action((a: string, b: string | undefined, opts) => run(async (c) => (await import("./commands/services.ts")).hookCommand(c, a, b, opts))(opts));

  cli
    .command("checkpoint [...args]", "Checkpoints of the whole workspace (container filesystem, home, worktree): create | list | get | delete")
    .usage("checkpoint create [workspace] [-n name] [--description text] | checkpoint list [workspace] [--wait] | checkpoint get [workspace] <checkpoint> [--wait] | checkpoint delete [workspace] <checkpoint>")
    .option("-n, --name <name>", "create: the checkpoint's name (unique in the workspace)")
    .option("--description <text>", "create: what it is for")
    .option("--wait", "list, get: answer once the changed paths of the container part are listed (moments after a checkpoint is taken)")
    .example("nexus checkpoint create feature-auth -n before-refactor")
    .example("nexus checkpoint list feature-auth --json")
    .example("nexus checkpoint delete feature-auth before-refactor")
    .action((args: string[], opts) => run(async (c) => (await import("./commands/checkpoints.ts")).checkpointCommand(c, args, opts))(opts));

  cli
    .command("sync [...args]", "File sync between the worktree and the workspace: status | pause | resume | flush | conflicts | resolve")
    .usage("sync status|pause|resume|flush|conflicts [workspace] | sync resolve [workspace] PATH --winner host|workspace")
    .option("--winner <side>", "resolve: whose version stays, host or workspace")
    .example("nexus sync status big --json")
    .example("nexus sync flush big")
    .example("nexus sync resolve big src/config.ts --winner host")
    .action((args: string[], opts) => run(async (c) => (await import("./commands/sync.ts")).syncCommand(c, args, opts))(opts));

  cli
    .command("restore [...args]", "Bring a workspace back to a checkpoint (an automatic checkpoint of the current state is taken first)")
    .usage("restore [workspace] <checkpoint>")
    .example("nexus restore feature-auth before-refactor")
    .action((args: string[], opts) => run(async (c) => (await import("./commands/checkpoints.ts")).restoreCommand(c, args))(opts));

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
    .command("proxy [...args]", "Forward a local port to a port inside the workspace until Ctrl-C: <port> (same port locally when free) or <local>:<remote>")
    .usage("proxy [workspace] <port> | <local>:<remote>")
    .example("nexus proxy feature-auth 3000")
    .example("nexus proxy feature-auth 8080:3000")
    .example("nexus proxy feature-auth 3000 --json   # the forward as JSON on stdout")
    .action((args: string[], opts) => run(async (c) => (await import("./commands/ports.ts")).proxyCommand(c, args))(opts));

  cli
    .command("ports [...args]", "List a workspace's published and forwarded ports (and what listens inside), or: add | rm | public")
    .usage("ports [workspace] | ports add [workspace] <port> [--public] [--host-port N] | ports rm|public [workspace] <id|port>")
    .option("--public", "add: listen on all interfaces, so other machines can connect")
    .option("--host-port <port>", "add: this host port instead of a free one from ssh.port_range")
    .example("nexus ports feature-auth")
    .example("nexus ports add feature-auth 3000")
    .example("nexus ports add feature-auth 3000 --public --host-port 8080")
    .example("nexus ports public feature-auth 3000")
    .example("nexus ports rm feature-auth pf-1a2b3c4d5e")
    .action((args: string[], opts) => run(async (c) => (await import("./commands/ports.ts")).portsCommand(c, args, opts))(opts));

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
    .option("-p, --port <port>", "Also listen on TCP <daemon.host>:<port> (REST, WS; gRPC on port+1), token required")
    .option("-w, --workspace-dir <dir>", "Workspace directory path (NEXUS_HOME)")
    .option("--daemon-token <token>", "The token clients must present (at least 32 characters; default: ~/.nexus/token, made at first start)")
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
    .command("config [action] [key] [value]", "Show the effective configuration, or: get <key> | set <key> <value> (validated, written to config.yaml) | validate (unknown keys are errors)")
    .example("nexus config")
    .example("nexus config validate")
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
    .command("trash [action] [id]", "list | restore <id> [--to path] | empty [id]: worktrees destroy moved aside (git-ignored or uncommitted files)")
    .option("--to <path>", "restore: put the files here instead of where the worktree was")
    .example("nexus trash list")
    .example("nexus trash restore tr-1a2b3c4d")
    .action((action: string | undefined, id: string | undefined, opts) => run((c) => trashCommand(c, action, id, opts))(opts));

  cli
    .command("cp <source> <destination>", "Copy files or folders between the workspace and this machine, anywhere in the container (home, /etc), as docker cp")
    .usage("cp <workspace>:<path> <local path> | cp <local path> <workspace>:<path>   ('-' : a tar on stdin/stdout)")
    .example("nexus cp feature-auth:/etc/hosts ./hosts")
    .example("nexus cp ./dotfiles feature-auth:~/")
    .example("nexus cp feature-auth:~/.config - | tar -t")
    .action((src: string, dst: string, opts) => run(async (c) => (await import("./commands/cp.ts")).cpCommand(c, src, dst))(opts));

  cli
    .command("code [workspace]", "Open VS Code on the workspace over Remote-SSH (code --remote ssh-remote+nexus-<name> /workspace, or the vscode:// URI)")
    .option("--print", "Print the command line (or URI) instead of opening it")
    .example("nexus code feature-auth")
    .example("nexus code feature-auth --print")
    .action((ws: string | undefined, opts) => run(async (c) => (await import("./commands/ide.ts")).ideCommand(c, ws, "vscode", opts))(opts));

  cli
    .command("open [workspace]", "Open the workspace in ide.default (vscode, vscode-insiders, cursor, windsurf, zed, jetbrains)")
    .option("--ide <name>", "This IDE instead of ide.default")
    .option("--print", "Print the command line (or URI) instead of opening it")
    .example("nexus open feature-auth")
    .example("nexus open feature-auth --ide jetbrains --print")
    .action((ws: string | undefined, opts) => run(async (c) => (await import("./commands/ide.ts")).ideCommand(c, ws, opts.ide === undefined ? undefined : String(opts.ide), opts))(opts));

  cli
    .command("engines", "The configured Docker engines: where they are, whether they answer, version, workspaces on each")
    .example("nexus engines")
    .example("nexus engines --json")
    .action((opts) => run(async (c) => (await import("./commands/engines.ts")).enginesCommand(c))(opts));

  cli
    .command("boulder [action]", "status: the agent plugin's keep-working state (.nexus/boulder/state.json), read only")
    .option("--dir <path>", "The project folder (default: the nearest folder up from here with .nexus/boulder, else the git top)")
    .example("nexus boulder status")
    .example("nexus boulder status --json")
    .action((action: string | undefined, opts) => run(async (c) => (await import("./commands/boulder.ts")).boulderCommand(c, action, opts))(opts));

  cli
    .command("trace [action] [id]", "Operation history: list | show <id> | stats | export | prune (what the daemon ran, how long it took, how it ended)")
    .option("--workspace <name>", "list, stats: only this workspace's operations")
    .option("--limit <n>", "list: at most this many, newest first (default 50)")
    .option("--format <format>", "export: jsonl (one JSON object a line)", { default: "jsonl" })
    .option("--older-than <duration>", "prune: remove operations started before this long ago", { default: "7d" })
    .example("nexus trace list --workspace demo --limit 20")
    .example("nexus trace stats")
    .example("nexus trace prune --older-than 30d")
    .action((action: string | undefined, id: string | undefined, opts) => run(async (c) => (await import("./commands/trace.ts")).traceCommand(c, action, id, opts))(opts));

  cli
    .command("upgrade", "Replace this nexus with the latest release (or --version V), verified against SHA256SUMS, and restart the running daemon on it")
    .option("--check", "Only say whether a newer release is there")
    .option("--version <version>", "Install this release instead of the latest (also older ones)")
    .example("nexus upgrade --check")
    .example("nexus upgrade --version 0.2.0")
    .action((opts) => run(async (c) => (await import("./commands/upgrade.ts")).upgradeCommand(c, opts, env))(opts));

  cli
    .command("version", "Print the version of the CLI and of the running daemon")
    .example("nexus version --json")
    .action((opts) => run((c) => versionCommand(c))(opts));

  // A command's help shows what it does, and its examples indented like the other sections.
  cli.help((sections) => {
    const cmd = cli.matchedCommand;
    const out = sections.map((s) => {
      if (s.title === "Examples") return { ...s, body: s.body.split("\n").map((l) => `  ${l}`).join("\n") };
      // cac gives every --no-x flag `default: true` (x is on unless the flag is given): not worth saying.
      if (s.title === "Options") return { ...s, body: s.body.replace(/^(\s*--no-\S+.*?) \(default: true\)$/gm, "$1") };
      return s;
    });
    if (cmd && cmd.name !== "" && cmd.description) out.splice(1, 0, { body: cmd.description });
    return out;
  });
  // cac's global -v/--version is a flag without a value: it would swallow `upgrade --version V`.
  if (argv[0] !== "upgrade") cli.version(buildInfo().version);

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
    else await writeErr(formatError(e, useColor(2) && !ctx?.json));
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
  const { spawnSync } = await import("node:child_process");
  const branch = spawnSync("git", ["rev-parse", "--abbrev-ref", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  // The names already taken, so the name question refuses them as they are typed: read from the
  // records of NEXUS_HOME (no daemon is started for it), or asked of the daemon given with -u.
  const taken = ctx.remote
    ? await ctx
        .probeClient()
        .json<{ workspaces: Array<{ name: string }> }>("GET", "/api/v1/workspaces")
        .then((r) => new Set(r.workspaces.map((w) => w.name)), () => new Set<string>())
    : new Set((await import("./commands/completion.ts")).workspaceNames(ctx.paths.workspaces));
  const answers = await runCreateWizard(flags, branch.status === 0 ? branch.stdout.trim() : undefined, taken);
  if (!answers) return 130;
  let summary = "";
  const code = await withSpinner(`Creating ${answers.name}`, (progress) => {
    ctx.log = async (line) => progress(line);
    return createCommand(ctx, answers.name, answers.flags, async (text) => void (summary = text));
  });
  await writeOut(summary); // after the spinner's last line, not over it
  return code;
}

/** cac's own parse errors (unknown option, missing argument) are usage errors. */
function cacError(err: unknown): NexusError | undefined {
  if (err instanceof Error && err.name === "CACError") {
    return new NexusError("INVALID_ARGUMENT", err.message, { suggestion: "Run 'nexus <command> --help' for its usage" });
  }
  return undefined;
}
