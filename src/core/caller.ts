// The API is as powerful as the user who owns the daemon, never more: what a request names on the
// host (a repository to mount, an agent socket to bridge into a container) must be the caller's own.
//
// Who the caller is: Bun and Deno do not expose a unix socket's peer credentials (SO_PEERCRED), so
// the daemon relies on the socket's own access rules instead: daemon.sock and grpc.sock are 0600 in a
// 0700 NEXUS_HOME, so only the daemon's user (and root) can connect. Over TCP, a token holder acts as
// the daemon's user. Either way the caller is taken to be the daemon's own user.
import { lstatSync, realpathSync, statSync, type Stats } from "node:fs";
import { sep } from "node:path";
import { errors, NexusError } from "./errors.ts";

export interface Caller {
  uid: number;
}

/** The daemon's own user (see above). */
export function daemonCaller(): Caller {
  return { uid: process.getuid?.() ?? 0 };
}

// Folders of the system: never a workspace's mount, whoever asks (root included).
const SYSTEM_DIRS = ["/etc", "/proc", "/sys", "/dev", "/boot", "/run", "/var/run", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/var/lib/docker", "/var/lib/containerd", "/snap"];

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * A repository or folder the caller may have mounted into a workspace: it exists, is a folder,
 * is no system folder (nor the daemon's own state, but for its clones), and the caller owns it.
 * Answers its real path (symlinks resolved: the check holds for what is mounted).
 */
export function checkWorkspacePath(path: string, caller: Caller, opts: { nexusHome?: string } = {}): string {
  let real: string;
  let st: Stats;
  try {
    real = realpathSync(path);
    st = statSync(real);
  } catch {
    throw errors.invalidArgument(`Repository path '${path}' does not exist`, "Pass an existing directory", { path });
  }
  if (!st.isDirectory()) throw errors.invalidArgument(`Repository path '${path}' is not a directory`, "Pass the repository's folder", { path });
  const refuse = (why: string) =>
    new NexusError("PERMISSION_DENIED", `Refusing to mount '${path}' into a workspace: ${why}`, {
      suggestion: "A workspace is made from a git repository (or folder) of your own",
      details: { path, realPath: real },
    });
  if (real === "/" || SYSTEM_DIRS.some((d) => under(real, d))) throw refuse("it is a system folder");
  if (opts.nexusHome) {
    const home = realpathOr(opts.nexusHome);
    if (under(real, home) && !under(real, `${home}${sep}repos`)) throw refuse("it holds the daemon's own state (tokens, keys)");
    if (under(home, real)) throw refuse("it holds the daemon's own state (tokens, keys)");
  }
  if (caller.uid !== 0 && st.uid !== caller.uid) throw refuse(`it belongs to uid ${st.uid}, not to you (uid ${caller.uid})`);
  return real;
}

/**
 * The caller's SSH agent socket, checked before it is bridged into a container: a unix socket the
 * caller owns, and not a socket of the system (the engine's, containerd's, systemd's ...) — those would
 * hand the workspace the engine, and with it the host. Undefined when it does not exist (a stale
 * SSH_AUTH_SOCK is no error: the agent is just not forwarded).
 */
export function checkAgentSocket(path: string, caller: Caller, opts: { engineSocket?: string } = {}): string | undefined {
  let real: string;
  let st: Stats;
  try {
    real = realpathSync(path);
    st = lstatSync(real);
  } catch {
    return undefined;
  }
  const refuse = (why: string) =>
    new NexusError("PERMISSION_DENIED", `Refusing agent socket '${path}': ${why}`, {
      suggestion: "Pass your own ssh-agent's socket (SSH_AUTH_SOCK)",
      details: { agentSocket: path },
    });
  if (!st.isSocket()) throw refuse("it is not a unix socket");
  if (opts.engineSocket && sameFile(real, opts.engineSocket)) throw refuse("it is the Docker engine's socket");
  const ownRuntimeDir = `/run/user/${caller.uid}`;
  if ((under(real, "/run") || under(real, "/var/run")) && !under(real, ownRuntimeDir)) throw refuse("it is a socket of the system");
  if (caller.uid !== 0 && st.uid !== caller.uid) throw refuse(`it belongs to uid ${st.uid}, not to you (uid ${caller.uid})`);
  if (caller.uid === 0 && st.uid === 0 && !looksLikeAgentPath(real)) throw refuse("it is root's and not where ssh-agent puts its socket");
  return path;
}

// ssh-agent (/tmp/ssh-XXXX/agent.N), gpg-agent (…/S.gpg-agent.ssh), keyrings, 1Password, a forwarded
// agent (…/ssh-*/agent.*), or a path naming an agent: root's own sockets elsewhere are system ones.
/** checkAgentSocket for the daemon's caller, with the engine's socket taken from its address (unix://...). */
export function callersAgentSocket(path: string, engineAddress: string): string | undefined {
  return checkAgentSocket(path, daemonCaller(), engineAddress.startsWith("unix://") ? { engineSocket: engineAddress.slice("unix://".length) } : {});
}

function looksLikeAgentPath(real: string): boolean {
  return /(^|\/)(ssh-[^/]+\/agent\.\d+|S\.gpg-agent\.ssh|agent\.sock|[^/]*agent[^/]*\.sock|keyring\/ssh|[^/]*ssh[^/]*\.sock)$/i.test(real) || /\/ssh-[A-Za-z0-9]+\//.test(real);
}

function sameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** Host ports below 1024 only with `daemon.allow_privileged_ports: true`. */
export function checkHostPort(port: number, allowPrivileged: boolean): void {
  if (port < 1024 && !allowPrivileged) {
    throw new NexusError("PERMISSION_DENIED", `Host port ${port} is a privileged port (below 1024)`, {
      suggestion: "Leave hostPort out (one is picked from ssh.port_range), pick one from 1024 up, or set daemon.allow_privileged_ports: true in config.yaml",
      details: { hostPort: port },
    });
  }
}
