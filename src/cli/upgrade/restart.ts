// After `nexus upgrade` replaced the binary: the running daemon is restarted on the new one, by
// whoever runs it. A daemon under systemd or launchd is restarted by that manager (its unit runs the
// same path, now the new program); one the CLI started is stopped and started again by the new binary.
import { spawnSync } from "node:child_process";
import type { Runner } from "../../service/install.ts";
import { LAUNCHD_LABEL, SERVICE_NAME } from "../../service/service.ts";

export type DaemonManager = { kind: "systemd"; scope: "--user" | "--system" } | { kind: "launchd"; target: string } | { kind: "cli" };

/** Who runs the daemon with this pid: a systemd unit or LaunchAgent named nexus whose main pid it is, else the CLI. */
export function daemonManager(pid: number, host: { platform: NodeJS.Platform; uid: number; run: Runner }): DaemonManager {
  if (host.platform === "linux") {
    for (const scope of ["--user", "--system"] as const) {
      const r = host.run("systemctl", [scope, "show", "-p", "MainPID", "--value", SERVICE_NAME]);
      if (r.ok && Number(r.output.trim()) === pid) return { kind: "systemd", scope };
    }
  } else if (host.platform === "darwin") {
    const target = `gui/${host.uid}/${LAUNCHD_LABEL}`;
    const r = host.run("launchctl", ["print", target]);
    const m = /\bpid = (\d+)/.exec(r.output);
    if (r.ok && m && Number(m[1]) === pid) return { kind: "launchd", target };
  }
  return { kind: "cli" };
}

/** Restarts the daemon the way its manager wants; answers a one-line error, or undefined when done. */
export function restartDaemon(m: DaemonManager, binary: string, env: Record<string, string | undefined>, run: Runner): string | undefined {
  if (m.kind === "systemd") {
    const r = run("systemctl", [m.scope, "restart", SERVICE_NAME]);
    return r.ok ? undefined : `systemctl ${m.scope} restart ${SERVICE_NAME}: ${r.output}`;
  }
  if (m.kind === "launchd") {
    const r = run("launchctl", ["kickstart", "-k", m.target]);
    return r.ok ? undefined : `launchctl kickstart -k ${m.target}: ${r.output}`;
  }
  // Started by the CLI: the new binary stops the old daemon and starts itself.
  for (const action of ["stop", "start"]) {
    const r = spawnSync(binary, ["daemon", action], { env: { ...process.env, ...env }, encoding: "utf8", timeout: 60_000, stdio: ["ignore", "pipe", "pipe"] });
    if (r.error || r.status !== 0) return `${binary} daemon ${action}: ${r.error?.message ?? `${r.stderr}${r.stdout}`.trim()}`;
  }
  return undefined;
}
