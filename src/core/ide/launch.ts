// How each IDE is opened on a workspace: a command when its launcher is on PATH, else a URI the
// desktop opens (xdg-open / open). Pure: the CLI injects PATH lookup and the spawner, so tests check
// the exact command line without any IDE installed.
import type { IdeName } from "../../config/schema.ts";
import { errors } from "../../kernel/errors.ts";

/** Where the IDE connects: the `nexus-<name>` alias of ~/.nexus/ssh_config, and the address behind it. */
export interface IdeTarget {
  alias: string;
  host: string;
  port: number;
  user: string;
  /** The folder to open inside the workspace. */
  folder: string;
}

export interface LaunchPlan {
  ide: IdeName;
  /** What runs: the IDE's launcher, or the desktop's URI opener. */
  argv: string[];
  /** The URI when the plan opens one (printed too, so a user can click it). */
  uri?: string;
  /** Whether the IDE connects by the ssh alias (then ~/.ssh/config must include ~/.nexus/ssh_config). */
  usesSshConfig: boolean;
}

/** VS Code and its forks take the same Remote-SSH arguments and URI, under their own names. */
const VSCODE_LIKE: Partial<Record<IdeName, { command: string; scheme: string }>> = {
  vscode: { command: "code", scheme: "vscode" },
  "vscode-insiders": { command: "code-insiders", scheme: "vscode-insiders" },
  cursor: { command: "cursor", scheme: "cursor" },
  windsurf: { command: "windsurf", scheme: "windsurf" },
};

/** The desktop's URI opener on this platform. */
export function uriOpener(platform: string): string {
  return platform === "darwin" ? "open" : "xdg-open";
}

/**
 * How to open `ide` on `t`: its launcher when `onPath` finds it, else its URI through the opener.
 * An IDE with neither (zed without `zed` on PATH) is INVALID_ARGUMENT saying what to install.
 */
export function launchPlan(ide: IdeName, t: IdeTarget, env: { platform: string; onPath: (command: string) => boolean }): LaunchPlan {
  const vs = VSCODE_LIKE[ide];
  if (vs) {
    const authority = `ssh-remote+${t.alias}`;
    if (env.onPath(vs.command)) return { ide, argv: [vs.command, "--remote", authority, t.folder], usesSshConfig: true };
    const uri = `${vs.scheme}://vscode-remote/${authority}${encodePath(t.folder)}`;
    return withOpener(ide, uri, env, true);
  }
  if (ide === "zed") {
    // Zed opens ssh:// URLs with the system ssh (so the alias and its ProxyCommand apply).
    if (env.onPath("zed")) return { ide, argv: ["zed", `ssh://${t.alias}${encodePath(t.folder)}`], usesSshConfig: true };
    throw errors.invalidArgument("Zed's 'zed' command is not on PATH (Zed has no URI to open a remote project with)", "Install Zed's CLI ('Zed > Install CLI'), or set ide.default to another IDE");
  }
  // JetBrains Gateway's own SSH client does not read ~/.ssh/config's ProxyCommand: it gets the address.
  const q = new URLSearchParams({ type: "ssh", deploy: "false", host: t.host, port: String(t.port), user: t.user, projectPath: t.folder });
  return withOpener(ide, `jetbrains-gateway://connect#${q}`, env, false);
}

function withOpener(ide: IdeName, uri: string, env: { platform: string; onPath: (command: string) => boolean }, usesSshConfig: boolean): LaunchPlan {
  const opener = uriOpener(env.platform);
  if (!env.onPath(opener)) {
    throw errors.invalidArgument(`Cannot open ${ide}: its launcher is not on PATH and neither is '${opener}' to open ${uri}`, `Open the URI yourself, or print it with --print: ${uri}`, { uri });
  }
  return { ide, argv: [opener, uri], uri, usesSshConfig };
}

/** A path for a URI: each segment percent-encoded, slashes kept. */
function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}
