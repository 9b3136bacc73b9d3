// What devcontainer.json asks of the container itself (mounts, runArgs, capAdd, ...), mapped onto the
// part of Docker's container options Nexus lets a project set. Anything outside that subset is refused
// with the reason, never dropped.
import { existsSync } from "node:fs";
import { isAbsolute, posix } from "node:path";
import { parseSize } from "../units.ts";

export interface MountSpec {
  type: "bind" | "volume" | "tmpfs";
  /** Host path (bind, absolute) or volume name; none for tmpfs. */
  source?: string;
  target: string;
  readOnly: boolean;
}

export interface ContainerOptions {
  /** containerEnv and runArgs' --env: the container's own environment. */
  env: Record<string, string>;
  mounts: MountSpec[];
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  labels: Record<string, string>;
  extraHosts: string[];
  shmSize?: number;
  ulimits: Array<{ Name: string; Soft: number; Hard: number }>;
}

export function emptyContainerOptions(): ContainerOptions {
  return { env: {}, mounts: [], capAdd: [], capDrop: [], securityOpt: [], labels: {}, extraHosts: [], ulimits: [] };
}

/** Paths Nexus mounts or writes itself: a project mount there would hide them. */
const RESERVED_TARGETS = ["/workspace", "/home/nexus", "/etc/nexus", "/etc/environment"];
// Only tightening: the workspace runs Nexus's own seccomp profile (docker/hardening.ts keeps setuid files
// and device nodes out of the bind-mounted worktree), which `seccomp=unconfined` would replace.
const SAFE_SECURITY_OPTS = /^no-new-privileges(:true)?$/;
/** Capabilities that reach past the container (or undo the workspace's hardening): refused in --cap-add. */
const HOST_CAPABILITIES = new Set(["ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_BOOT", "DAC_READ_SEARCH", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "SETFCAP", "SYSLOG", "BPF", "PERFMON", "SYS_TIME"]);

/** A mount as devcontainer.json writes it: Docker's `--mount` string, or {type, source, target}. */
export function parseMount(value: unknown): MountSpec | string {
  let fields: Record<string, string | boolean>;
  if (typeof value === "string") {
    fields = {};
    for (const part of value.split(",")) {
      if (part.trim() === "") continue;
      const eq = part.indexOf("=");
      const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      fields[k] = eq < 0 ? true : part.slice(eq + 1).trim();
    }
  } else if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    fields = value as Record<string, string | boolean>;
  } else {
    return "expected a mount: a string such as 'source=name,target=/path,type=volume' or {type, source, target}";
  }
  const known = new Set(["type", "source", "src", "target", "destination", "dst", "readonly", "ro", "consistency", "external"]);
  const unknown = Object.keys(fields).find((k) => !known.has(k));
  if (unknown) return `mount option '${unknown}' is not supported (type, source, target, readonly and consistency are)`;
  const type = fields.type === undefined ? "volume" : String(fields.type);
  if (type !== "bind" && type !== "volume" && type !== "tmpfs") return `mount type '${type}' is not supported (bind, volume or tmpfs)`;
  const source = fields.source ?? fields.src;
  const target = fields.target ?? fields.destination ?? fields.dst;
  if (typeof target !== "string" || !target.startsWith("/")) return "a mount needs an absolute target";
  const where = posix.normalize(target);
  // Inside /workspace or the home volume is fine (a node_modules volume, a cache); on or above them is not.
  const clash = RESERVED_TARGETS.find((r) => where === r || r.startsWith(where === "/" ? "/" : where + "/") || (r === "/etc/nexus" && where.startsWith(r + "/")));
  if (clash) return `mount target ${where} would hide ${clash}, which Nexus mounts or writes itself`;
  const ro = fields.readonly ?? fields.ro;
  const readOnly = ro === true || ro === "true" || ro === "1";
  if (type === "tmpfs") return { type, target: where, readOnly };
  if (typeof source !== "string" || source === "") return `a ${type} mount needs a source`;
  if (type === "bind") {
    if (!isAbsolute(source)) return `bind source '${source}' must be an absolute host path (\${localWorkspaceFolder} or \${localEnv:HOME} give one)`;
    if (!existsSync(source)) return `bind source ${source} does not exist on this machine`;
  } else if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source)) {
    return `'${source}' is not a volume name`;
  }
  return { type, source, target: where, readOnly };
}

/** Flags refused with their reason; everything else not in the subset gets the general answer. */
const REFUSED: Array<[RegExp, string]> = [
  [/^(-p|--publish|--publish-all|-P|--expose)$/, "Nexus publishes ports itself, on 127.0.0.1: use forwardPorts or appPort"],
  [/^(--cpus|--cpu-shares|-c|--memory|-m|--memory-swap|--cpuset-cpus)$/, "set resources in .nexus/workspace.yaml or with 'nexus create --resources'"],
  [/^(--privileged|--device|--pid|--ipc|--network|--net|--uts|--userns|--cgroupns|--gpus|--cgroup-parent|--device-cgroup-rule|--volumes-from|--runtime)$/, "it gives the container access to the host or to other containers, which Nexus does not do for a project"],
  [/^(-u|--user|--group-add)$/, "commands run as the workspace user 'nexus', who has your uid"],
  [/^(--name|-h|--hostname|--entrypoint|-w|--workdir|--rm|-d|--detach|-i|-t|--restart)$/, "Nexus sets it for its own container"],
  [/^(--env-file|--label-file)$/, "files named in runArgs are not read; use containerEnv or remoteEnv"],
];

/** runArgs: the safe subset, into `into`; a problem names the index of the argument at fault. */
export function applyRunArgs(args: unknown, into: ContainerOptions, localEnv: Record<string, string | undefined>): { index: number; message: string } | undefined {
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) return { index: -1, message: "expected a list of strings" };
  const words = args as string[];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith("-")) return { index: i, message: `'${word}' is not a flag (runArgs are options of 'docker run', not a command)` };
    const eq = word.startsWith("--") ? word.indexOf("=") : -1;
    const flag = eq > 0 ? word.slice(0, eq) : word;
    const at = i;
    const value = (): string | undefined => (eq > 0 ? word.slice(eq + 1) : words[++i]);
    const refused = REFUSED.find(([re]) => re.test(flag));
    if (refused) return { index: at, message: `runArgs '${flag}' is not supported: ${refused[1]}` };
    let v: string | undefined;
    switch (flag) {
      case "--init":
        continue; // Nexus containers always run with an init.
      case "-e":
      case "--env": {
        if ((v = value()) === undefined) break;
        const k = v.includes("=") ? v.slice(0, v.indexOf("=")) : v;
        const val = v.includes("=") ? v.slice(v.indexOf("=") + 1) : localEnv[v];
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) return { index: at, message: `'${k}' is not an environment variable name` };
        if (val !== undefined) into.env[k] = val;
        continue;
      }
      case "--cap-add": {
        if ((v = value()) === undefined) break;
        const cap = v.toUpperCase().replace(/^CAP_/, "");
        if (HOST_CAPABILITIES.has(cap)) return { index: at, message: `'--cap-add ${v}' is not supported: it reaches past the container or undoes the workspace's hardening (capabilities such as SYS_PTRACE or NET_RAW are fine)` };
        into.capAdd.push(cap);
        continue;
      }
      case "--cap-drop":
        if ((v = value()) === undefined) break;
        into.capDrop.push(v.toUpperCase());
        continue;
      case "-l":
      case "--label": {
        if ((v = value()) === undefined) break;
        const k = v.includes("=") ? v.slice(0, v.indexOf("=")) : v;
        if (k.startsWith("dev.nexus.")) return { index: at, message: `label '${k}' is Nexus's own` };
        into.labels[k] = v.includes("=") ? v.slice(v.indexOf("=") + 1) : "";
        continue;
      }
      case "--security-opt":
        if ((v = value()) === undefined) break;
        if (!SAFE_SECURITY_OPTS.test(v)) {
          return { index: at, message: `runArgs '--security-opt ${v}' is not supported: the workspace runs Nexus's own seccomp profile, which keeps setuid files and device nodes out of your worktree (no-new-privileges is accepted)` };
        }
        into.securityOpt.push("no-new-privileges:true");
        continue;
      case "--add-host":
        if ((v = value()) === undefined) break;
        if (!/^[^:\s]+:\S+$/.test(v)) return { index: at, message: `'${v}' is not host:ip` };
        into.extraHosts.push(v);
        continue;
      case "--shm-size": {
        if ((v = value()) === undefined) break;
        const size = parseSize(v);
        if (size === undefined) return { index: at, message: `'${v}' is not a size such as 1g` };
        into.shmSize = size;
        continue;
      }
      case "--ulimit": {
        if ((v = value()) === undefined) break;
        const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(v);
        if (!m) return { index: at, message: `'${v}' is not a ulimit such as nofile=1024:2048` };
        into.ulimits.push({ Name: m[1]!, Soft: Number(m[2]), Hard: Number(m[3] ?? m[2]) });
        continue;
      }
      case "-v":
      case "--volume":
      case "--mount": {
        if ((v = value()) === undefined) break;
        const mount = parseMount(flag === "--mount" ? v : volumeToMount(v));
        if (typeof mount === "string") return { index: at, message: mount };
        into.mounts.push(mount);
        continue;
      }
      default:
        return { index: at, message: `runArgs '${flag}' is not supported: Nexus maps --env, --cap-add, --cap-drop, --label, --security-opt no-new-privileges, --add-host, --shm-size, --ulimit, --volume, --mount and --init` };
    }
    return { index: at, message: `runArgs '${flag}' needs a value` };
  }
  return undefined;
}

// `-v src:dst[:ro]`: a path source is a bind mount, a name a volume.
function volumeToMount(spec: string): string {
  const [source = "", target = "", mode = ""] = spec.split(":");
  const type = source.startsWith("/") || source.startsWith(".") ? "bind" : "volume";
  return `type=${type},source=${source},target=${target}${mode.split(",").includes("ro") ? ",readonly" : ""}`;
}
