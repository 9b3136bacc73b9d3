// Installing the daemon as an OS service: write the file atomically, then hand it to systemd or
// launchd. Where the service manager cannot be reached (no user systemd, containers), the file is
// still written and the commands to run are returned, never faked.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { NexusError } from "../kernel/errors.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { shellLine } from "../ssh/quote.ts";
import { LAUNCHD_LABEL, SERVICE_NAME, renderService, servicePath, type ServiceDescription, type ServiceKind } from "./service.ts";

/** Runs a program; ok is false when it is missing or exits non-zero. */
export type Runner = (cmd: string, args: string[]) => { ok: boolean; output: string };

export const runCommand: Runner = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 30_000, stdio: ["ignore", "pipe", "pipe"] });
  if (r.error) return { ok: false, output: r.error.message };
  return { ok: r.status === 0, output: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim() };
};

export interface ServiceHost {
  platform: NodeJS.Platform;
  home: string;
  xdgConfigHome?: string;
  uid: number;
  run: Runner;
}

export interface ServiceResult {
  kind: ServiceKind;
  path: string;
  /** Installed: the file is written. Uninstalled: the file is gone. */
  changed: boolean;
  /** True when the service manager took the change (enabled and started, or stopped and disabled). */
  activated: boolean;
  /** Commands the user still has to run, when the service manager could not be reached. */
  manualSteps: string[];
  note?: string;
}

export function serviceKind(platform: NodeJS.Platform, system: boolean): ServiceKind {
  if (platform === "darwin") {
    if (system) {
      throw new NexusError("INVALID_ARGUMENT", "--system is for systemd (Linux); on macOS the daemon runs as a LaunchAgent of your user", {
        suggestion: "Run 'nexus daemon install' without --system",
      });
    }
    return "launchd";
  }
  if (platform === "linux") return system ? "systemd-system" : "systemd-user";
  throw new NexusError("UNIMPLEMENTED", `Installing the daemon as a service is not supported on ${platform}`, {
    suggestion: "Run 'nexus daemon' from your own service manager",
  });
}

function activationCommands(kind: ServiceKind, path: string, uid: number): string[][] {
  switch (kind) {
    case "systemd-user":
      return [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", `${SERVICE_NAME}.service`]];
    case "systemd-system":
      return [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", `${SERVICE_NAME}.service`]];
    case "launchd":
      return [["launchctl", "bootstrap", `gui/${uid}`, path]];
  }
}

function deactivationCommands(kind: ServiceKind, path: string, uid: number): string[][] {
  switch (kind) {
    case "systemd-user":
      return [["systemctl", "--user", "disable", "--now", `${SERVICE_NAME}.service`]];
    case "systemd-system":
      return [["systemctl", "disable", "--now", `${SERVICE_NAME}.service`]];
    case "launchd":
      return [["launchctl", "bootout", `gui/${uid}`, path]];
  }
}

/** Whether the service manager answers at all (a user systemd needs a running user manager and bus). */
function managerReachable(kind: ServiceKind, host: ServiceHost): { ok: boolean; why: string } {
  if (kind === "launchd") {
    const r = host.run("launchctl", ["print", `gui/${host.uid}`]);
    return { ok: r.ok, why: r.output.split("\n")[0] ?? "" };
  }
  const r = host.run("systemctl", kind === "systemd-user" ? ["--user", "show-environment"] : ["show-environment"]);
  return { ok: r.ok, why: r.output.split("\n")[0] || "systemctl is not installed" };
}


/** Writes the service file atomically, then enables and starts it when the manager answers. */
export function installService(kind: ServiceKind, svc: ServiceDescription, host: ServiceHost): ServiceResult {
  const path = servicePath(kind, host.home, host.xdgConfigHome);
  try {
    writeFileAtomic(path, renderService(kind, svc), 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw err;
    throw new NexusError("PERMISSION_DENIED", `Cannot write ${path}: ${(err as Error).message}`, {
      suggestion: kind === "systemd-system" ? "A system unit needs root: sudo nexus daemon install --system" : `Make ${path}'s folder writable`,
      details: { path },
    });
  }
  const steps = activationCommands(kind, path, host.uid);
  const reach = managerReachable(kind, host);
  if (!reach.ok) {
    return {
      kind, path, changed: true, activated: false, manualSteps: steps.map(shellLine),
      note: `${kind === "launchd" ? "launchd" : "systemd"} is not reachable here (${reach.why}); the file is written, start it yourself`,
    };
  }
  if (kind === "launchd") host.run("launchctl", ["bootout", `gui/${host.uid}/${LAUNCHD_LABEL}`]); // a loaded old copy would make bootstrap fail
  for (const [i, argv] of steps.entries()) {
    const r = host.run(argv[0]!, argv.slice(1));
    if (!r.ok) {
      throw new NexusError("INTERNAL_ERROR", `'${shellLine(argv)}' failed: ${r.output || "no output"}`, {
        suggestion: `The file ${path} is written; run the rest by hand: ${steps.slice(i).map(shellLine).join(" && ")}`,
        details: { path },
      });
    }
  }
  return { kind, path, changed: true, activated: true, manualSteps: [] };
}

/** Stops and disables the service when the manager answers, then removes the file install wrote. */
export function uninstallService(kind: ServiceKind, host: ServiceHost): ServiceResult {
  const path = servicePath(kind, host.home, host.xdgConfigHome);
  if (!existsSync(path)) return { kind, path, changed: false, activated: false, manualSteps: [], note: `${path} does not exist; nothing to remove` };
  const steps = deactivationCommands(kind, path, host.uid);
  const reach = managerReachable(kind, host);
  let activated = false;
  const manual: string[] = [];
  if (reach.ok) {
    for (const argv of steps) activated = host.run(argv[0]!, argv.slice(1)).ok || activated;
  } else manual.push(...steps.map(shellLine));
  rmSync(path, { force: true });
  if (reach.ok && kind !== "launchd") host.run("systemctl", kind === "systemd-user" ? ["--user", "daemon-reload"] : ["daemon-reload"]);
  return {
    kind, path, changed: true, activated, manualSteps: manual,
    ...(reach.ok ? {} : { note: `${kind === "launchd" ? "launchd" : "systemd"} is not reachable here (${reach.why}); if the service still runs, stop it yourself` }),
  };
}
