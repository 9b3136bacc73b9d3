// One description of the daemon as an OS service, rendered to a systemd unit (Linux) or a launchd
// plist (macOS), the way Homebrew's service.rb does: user scope by default, explicit PATH, real logs.
import { join } from "node:path";

export interface ServiceDescription {
  /** systemd unit name (without .service) */
  name: string;
  /** launchd label */
  label: string;
  description: string;
  /** Absolute path of the program. */
  execPath: string;
  args: string[];
  env: Record<string, string>;
  logPath: string;
  /** For source runs under Deno, which resolve npm packages from the project's folder. */
  workingDirectory?: string;
  /** Set for a system-wide systemd unit: the user the daemon runs as. */
  user?: string;
}

export type ServiceKind = "systemd-user" | "systemd-system" | "launchd";

export interface ServiceFile {
  kind: ServiceKind;
  path: string;
  content: string;
}

export const SERVICE_NAME = "nexus";
export const LAUNCHD_LABEL = "dev.nexus.daemon";

/** Where the service file of each kind lives. */
export function servicePath(kind: ServiceKind, home: string, xdgConfigHome?: string): string {
  switch (kind) {
    case "systemd-user":
      return join(xdgConfigHome || join(home, ".config"), "systemd", "user", `${SERVICE_NAME}.service`);
    case "systemd-system":
      return `/etc/systemd/system/${SERVICE_NAME}.service`;
    case "launchd":
      return join(home, "Library", "LaunchAgents", `${LAUNCHD_LABEL}.plist`);
  }
}

export function renderService(kind: ServiceKind, svc: ServiceDescription): string {
  return kind === "launchd" ? renderLaunchdPlist(svc) : renderSystemdUnit(svc, kind === "systemd-system");
}

/** A systemd unit; ExecStart words are quoted the systemd way so paths with spaces survive. */
export function renderSystemdUnit(svc: ServiceDescription, system: boolean): string {
  const lines = [
    "# Written by 'nexus daemon install'; 'nexus daemon uninstall' removes it.",
    "[Unit]",
    `Description=${svc.description}`,
    "After=network.target docker.service",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${[svc.execPath, ...svc.args].map(systemdQuote).join(" ")}`,
    "Restart=on-failure",
    "RestartSec=2",
    ...Object.entries(svc.env).map(([k, v]) => `Environment=${systemdQuote(`${k}=${v}`)}`),
    ...(system && svc.user ? [`User=${svc.user}`] : []),
    ...(svc.workingDirectory ? [`WorkingDirectory=${systemdQuote(svc.workingDirectory)}`] : []),
    `StandardOutput=append:${svc.logPath}`,
    `StandardError=append:${svc.logPath}`,
    "",
    "[Install]",
    `WantedBy=${system ? "multi-user.target" : "default.target"}`,
    "",
  ];
  return lines.join("\n");
}

function systemdQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `"${word.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%")}"`;
}

/** A launchd agent: starts at login, restarted when it exits, logs to the daemon log. */
export function renderLaunchdPlist(svc: ServiceDescription): string {
  const str = (s: string) => `<string>${xmlEscape(s)}</string>`;
  const env = Object.entries(svc.env)
    .map(([k, v]) => `\t\t<key>${xmlEscape(k)}</key>\n\t\t${str(v)}`)
    .join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>Label</key>
\t${str(svc.label)}
\t<key>ProgramArguments</key>
\t<array>
${[svc.execPath, ...svc.args].map((a) => `\t\t${str(a)}`).join("\n")}
\t</array>
\t<key>EnvironmentVariables</key>
\t<dict>
${env}
\t</dict>
${svc.workingDirectory ? `\t<key>WorkingDirectory</key>\n\t${str(svc.workingDirectory)}\n` : ""}\t<key>RunAtLoad</key>
\t<true/>
\t<key>KeepAlive</key>
\t<true/>
\t<key>StandardOutPath</key>
\t${str(svc.logPath)}
\t<key>StandardErrorPath</key>
\t${str(svc.logPath)}
</dict>
</plist>
`;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
