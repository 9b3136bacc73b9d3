import { DaemonClient } from "../client.ts";
import type { CliContext } from "../context.ts";
import { daemonVersion, ensureDaemon, stopDaemon } from "../daemon-process.ts";
import { writeOut } from "../output.ts";
import { NexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import { homedir, userInfo } from "node:os";
import type { ServiceHost } from "../../service/install.ts";
import { LAUNCHD_LABEL, SERVICE_NAME, renderService, servicePath, type ServiceDescription } from "../../service/service.ts";

export interface DaemonFlags {
  print?: boolean;
  system?: boolean;
}

export async function daemonCommand(ctx: CliContext, action: string, flags: DaemonFlags = {}): Promise<number> {
  if (action === "install" || action === "uninstall") return serviceCommand(ctx, action, flags);
  const client = new DaemonClient({ socketPath: ctx.paths.daemonSocket });
  switch (action) {
    case "status": {
      const v = await daemonVersion(client);
      if (ctx.json) await writeOut(JSON.stringify(v ? { running: true, ...v, socket: ctx.paths.daemonSocket } : { running: false, socket: ctx.paths.daemonSocket }) + "\n");
      else await writeOut(v ? `Daemon running: pid ${v.pid}, version ${v.version} (${v.commit}), socket ${ctx.paths.daemonSocket}\n` : `Daemon not running (socket ${ctx.paths.daemonSocket})\n`);
      return v ? EXIT_CODES.ok : EXIT_CODES.daemonUnreachable;
    }
    case "start": {
      await ensureDaemon(ctx.paths, (l) => void ctx.log(l));
      const v = (await daemonVersion(client))!;
      if (ctx.json) await writeOut(JSON.stringify({ running: true, ...v, socket: ctx.paths.daemonSocket }) + "\n");
      else await writeOut(`Daemon running: pid ${v.pid}, version ${v.version}\n`);
      return EXIT_CODES.ok;
    }
    case "stop": {
      const stopped = await stopDaemon(client, ctx.paths);
      if (ctx.json) await writeOut(JSON.stringify({ stopped }) + "\n");
      else await writeOut(stopped ? "Daemon stopped\n" : "Daemon was not running\n");
      return EXIT_CODES.ok;
    }
    default:
      throw new NexusError("INVALID_ARGUMENT", `Unknown daemon action '${action}'`, {
        suggestion: "Use 'nexus daemon' (foreground), or 'nexus daemon start | stop | status | install | uninstall'",
      });
  }
}

/** The user's name; its uid when Bun cannot tell (its userInfo() says "unknown" without $USER), which systemd's User= takes too. */
function loginName(): string {
  const { username, uid } = userInfo();
  return username && username !== "unknown" ? username : String(uid);
}

/** The daemon of this very program, as an OS service description. */
async function describeDaemonService(ctx: CliContext, system: boolean): Promise<ServiceDescription> {
  const { currentRuntime } = await import("../../runtime/index.ts");
  const runtime = await currentRuntime();
  const self = runtime.selfCommand();
  // Under sudo, a system unit runs the daemon as the user who asked, not as root.
  const user = system ? process.env.SUDO_USER || loginName() : undefined;
  return {
    name: SERVICE_NAME,
    label: LAUNCHD_LABEL,
    description: "Nexus daemon: isolated development workspaces",
    execPath: self.argv[0]!,
    args: [...self.argv.slice(1), "daemon"],
    // launchd starts programs with a bare PATH; docker, git and ssh must be found as in the user's shell.
    env: { ...runtime.daemonEnv(), PATH: process.env.PATH || "/usr/local/bin:/usr/bin:/bin", NEXUS_HOME: ctx.paths.home },
    logPath: ctx.paths.daemonLog,
    ...(self.cwd ? { workingDirectory: self.cwd } : {}),
    ...(user ? { user } : {}),
  };
}

/** `nexus daemon install | uninstall`: the daemon as a systemd user unit or a launchd agent. */
async function serviceCommand(ctx: CliContext, action: "install" | "uninstall", flags: DaemonFlags): Promise<number> {
  const { installService, runCommand, serviceKind, uninstallService } = await import("../../service/install.ts");
  const kind = serviceKind(process.platform, flags.system === true);
  const host: ServiceHost = {
    platform: process.platform,
    home: process.env.HOME || homedir(),
    ...(process.env.XDG_CONFIG_HOME ? { xdgConfigHome: process.env.XDG_CONFIG_HOME } : {}),
    uid: process.getuid?.() ?? 0,
    run: runCommand,
  };
  if (action === "install") {
    const svc = await describeDaemonService(ctx, flags.system === true);
    if (flags.print) {
      const path = servicePath(kind, host.home, host.xdgConfigHome);
      const content = renderService(kind, svc);
      await writeOut(ctx.json ? JSON.stringify({ kind, path, content }) + "\n" : `# ${path}\n${content}`);
      return EXIT_CODES.ok;
    }
    // A daemon the CLI started holds the lock; it gives way so the service's daemon can take over.
    const client = new DaemonClient({ socketPath: ctx.paths.daemonSocket });
    if (await daemonVersion(client)) {
      await ctx.log("Stopping the running daemon so the service takes over");
      await stopDaemon(client, ctx.paths);
    }
    const r = installService(kind, svc, host);
    if (ctx.json) await writeOut(JSON.stringify(r) + "\n");
    else {
      let text = `Wrote ${r.path}\n`;
      text += r.activated ? `Enabled and started the Nexus daemon service (${kind}); it starts at ${kind === "systemd-system" ? "boot" : "login"} and restarts on failure\n` : "";
      if (r.note) text += `Note: ${r.note}:\n${r.manualSteps.map((s) => `  ${s}\n`).join("")}`;
      await writeOut(text);
    }
    return EXIT_CODES.ok;
  }
  const r = uninstallService(kind, host);
  if (ctx.json) await writeOut(JSON.stringify(r) + "\n");
  else {
    let text = r.changed ? `Removed ${r.path}${r.activated ? " (service stopped and disabled)" : ""}\n` : `Nothing to remove: ${r.note}\n`;
    if (r.changed && r.note) text += `Note: ${r.note}:\n${r.manualSteps.map((s) => `  ${s}\n`).join("")}`;
    await writeOut(text);
  }
  return EXIT_CODES.ok;
}
