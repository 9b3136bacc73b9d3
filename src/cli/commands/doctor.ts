// `nexus doctor`: checks what Nexus needs on this machine and says how to fix what is missing.
// The one CLI command that may probe Docker, git and ssh directly (DESIGN §1).
import { spawnSync } from "node:child_process";
import { existsSync, statSync, statfsSync } from "node:fs";
import { createServer } from "node:net";
import { dirname } from "node:path";
import { loadEffectiveConfig } from "../../config/load.ts";
import { untrustedBecause } from "../../config/ownership.ts";
import { formatUnknownKey } from "../../config/unknown-keys.ts";
import type { NexusConfig } from "../../config/schema.ts";
import { containerUser, describeContainerUser } from "../../core/container-user.ts";
import { toNexusError } from "../../core/errors.ts";
import { EXIT_CODES } from "../exit-codes.ts";
import { buildInfo } from "../../version.ts";
import { DaemonClient } from "../client.ts";
import type { CliContext } from "../context.ts";
import { daemonVersion } from "../daemon-process.ts";
import { bold, dim, green, red, writeOut, yellow } from "../output.ts";

export type CheckStatus = "ok" | "warn" | "fail";

export interface Check {
  name: string;
  status: CheckStatus;
  message: string;
  /** What to do about a warn or fail. */
  fix?: string;
}

const GB = 1024 ** 3;

const ok = (name: string, message: string): Check => ({ name, status: "ok", message });
const warn = (name: string, message: string, fix: string): Check => ({ name, status: "warn", message, fix });
const fail = (name: string, message: string, fix: string): Check => ({ name, status: "fail", message, fix });

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function checkConfig(file: string, env: Record<string, string | undefined>): { checks: Check[]; config?: NexusConfig } {
  try {
    const { config, sources, unknownKeys, notHonoured } = loadEffectiveConfig(file, env);
    const vars = [...new Set(Object.values(sources).filter((s) => s !== file))];
    const text = (existsSync(file) ? `${file} is valid` : `no ${file}; defaults apply`) + (vars.length > 0 ? `; overridden by ${vars.join(", ")}` : "");
    const checks = [ok("config", text)];
    // Config that does nothing is said, never silently dropped (config/keys.ts, config/unknown-keys.ts).
    if (unknownKeys.length > 0) {
      checks.push(warn("config keys", `unknown (ignored): ${unknownKeys.map(formatUnknownKey).join("; ")}`, `Remove or correct them; 'nexus config validate' lists them`));
    }
    if (notHonoured.length > 0) {
      checks.push(warn("config support", `set but not honoured by this build: ${notHonoured.map((k) => `${k.key} (${k.why})`).join("; ")}`, "Leave them out until they are supported; the README's configuration reference says what each key does"));
    }
    return { checks, config };
  } catch (err) {
    const e = toNexusError(err);
    return { checks: [fail("config", e.message, e.suggestion ?? `Fix ${file}`)] };
  }
}

async function checkDocker(config: NexusConfig | undefined, env: Record<string, string | undefined>): Promise<Check[]> {
  const { DockerEngine, DEFAULT_WORKSPACE_IMAGE } = await import("../../docker/engine.ts");
  let engine;
  try {
    engine = new DockerEngine({ ...(config?.docker.host ? { host: config.docker.host } : {}), env });
  } catch (err) {
    const e = toNexusError(err);
    return [fail("docker", e.message, e.suggestion ?? "Set docker.host in the config or DOCKER_HOST")];
  }
  const checks: Check[] = [];
  try {
    const info = await withTimeout(engine.ping(), 5000, `Docker at ${engine.address}`);
    checks.push(ok("docker", `engine ${info.version} at ${engine.address} (${info.ncpu} CPUs, ${(info.memTotal / GB).toFixed(1)} GB)`));
  } catch (err) {
    return [
      fail("docker", toNexusError(err).message, "Start Docker (Debian as root: scripts/docker-up.sh), or point docker.host / DOCKER_HOST at a running engine"),
      warn("image", "not checked: no Docker engine", "Fix the Docker check first"),
    ];
  }
  const image = config?.defaults.image ?? DEFAULT_WORKSPACE_IMAGE;
  try {
    const found = await withTimeout(engine.docker.getImage(image).inspect(), 5000, "image inspect");
    checks.push(ok("image", `${image} present (${(Number(found.Size) / 1024 ** 2).toFixed(0)} MB)`));
  } catch {
    checks.push(
      image === DEFAULT_WORKSPACE_IMAGE
        ? warn("image", `${image} is not built yet`, "Nothing to do: the first 'nexus create' builds it (about a minute); needs debian:bookworm-slim or scripts/docker-up.sh offline")
        : fail("image", `${image} (defaults.image) is not present`, `docker pull ${image}, or change defaults.image with 'nexus config set defaults.image <image>'`),
    );
  }
  return checks;
}

function checkTool(name: string, argv: string[], fix: string): Check {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 5000 });
  if (r.error || r.status !== 0) return fail(name, `'${argv.join(" ")}' failed: ${r.error?.message ?? (r.stderr || "").trim()}`, fix);
  return ok(name, `${(r.stdout || r.stderr).trim().split("\n")[0]}`);
}

function checkAgent(env: Record<string, string | undefined>): Check {
  const sock = env.SSH_AUTH_SOCK;
  const fix = "Start one with: eval \"$(ssh-agent)\" && ssh-add  (forwarding your keys into workspaces needs it; everything else works without)";
  if (!sock) return warn("ssh-agent", "SSH_AUTH_SOCK is not set", fix);
  if (!existsSync(sock)) return warn("ssh-agent", `SSH_AUTH_SOCK points at ${sock}, which does not exist`, fix);
  // ssh-add -l: 0 = keys listed, 1 = agent answers but holds none, 2 = no agent.
  const r = spawnSync("ssh-add", ["-l"], { encoding: "utf8", timeout: 5000, env: { ...process.env, SSH_AUTH_SOCK: sock } });
  if (r.status === 0) return ok("ssh-agent", `${sock} answers, ${r.stdout.trim().split("\n").length} key(s)`);
  if (r.status === 1) return warn("ssh-agent", `${sock} answers but holds no keys`, "ssh-add ~/.ssh/id_ed25519");
  return warn("ssh-agent", `${sock} does not answer: ${(r.stderr || r.error?.message || "").trim()}`, fix);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => resolve(true)));
  });
}

async function checkPorts(config: NexusConfig | undefined): Promise<Check> {
  const range = config?.ssh.port_range ?? { start: 32800, end: 34999 };
  // Looks for a handful of free ports from the start; enough to tell "exhausted" from "fine".
  let free = 0;
  let tried = 0;
  for (let p = range.start; p <= range.end && free < 5 && tried < 200; p++, tried++) if (await portFree(p)) free++;
  const label = `ssh.port_range ${range.start}-${range.end}`;
  if (free === 0) return fail("ports", `no free port among the first ${tried} of ${label}`, "Destroy unused workspaces, or widen it: nexus config set ssh.port_range.end <port>");
  return ok("ports", `${label}: free ports found (${free} of the first ${tried} tried)`);
}

async function checkDaemon(ctx: CliContext): Promise<Check> {
  const ours = buildInfo();
  let v;
  try {
    v = await daemonVersion(new DaemonClient({ socketPath: ctx.paths.daemonSocket }));
  } catch (err) {
    return fail("daemon", `the socket ${ctx.paths.daemonSocket} answers, but not as a Nexus daemon: ${toNexusError(err).message}`, `Remove it if no daemon runs: rm ${ctx.paths.daemonSocket}`);
  }
  if (!v) return warn("daemon", "not running", "Nothing to do: the CLI starts it on the next command ('nexus daemon start' starts it now; 'nexus daemon install' at login)");
  if (v.version !== ours.version || v.commit !== ours.commit) {
    return warn("daemon", `pid ${v.pid} runs ${v.version} (${v.commit}), this CLI is ${ours.version} (${ours.commit})`, "The next command replaces it, or now: nexus daemon stop");
  }
  return ok("daemon", `running, pid ${v.pid}, same version (${v.version}, ${v.commit})`);
}

function checkModes(ctx: CliContext): Check[] {
  const home = ctx.paths.home;
  const checks: Check[] = [];
  if (!existsSync(home)) checks.push(ok("home", `${home} does not exist yet (made with mode 0700 on first use)`));
  else {
    // Another user's (or a world-writable) home or config.yaml is refused by every command (ownership.ts).
    const why = untrustedBecause(home) ?? untrustedBecause(ctx.paths.config);
    const mode = statSync(home).mode & 0o777;
    if (why) checks.push(fail("home", `${why}: Nexus refuses to use it`, `Use a NEXUS_HOME of your own, or make it yours: chown -R $(id -u) ${home} && chmod 700 ${home} && chmod go-w ${ctx.paths.config}`));
    else checks.push(mode === 0o700 ? ok("home", `${home} mode 0700`) : fail("home", `${home} has mode 0${mode.toString(8)}; others could read keys and state`, `chmod 700 ${home}`));
  }
  if (existsSync(ctx.paths.daemonSocket)) {
    const mode = statSync(ctx.paths.daemonSocket).mode & 0o777;
    checks.push(
      mode === 0o600
        ? ok("socket", `${ctx.paths.daemonSocket} mode 0600`)
        : fail("socket", `${ctx.paths.daemonSocket} has mode 0${mode.toString(8)}; other users could drive the daemon`, `chmod 600 ${ctx.paths.daemonSocket}, or restart the daemon: nexus daemon stop`),
    );
  }
  return checks;
}

function checkDisk(home: string): Check {
  let dir = home;
  while (!existsSync(dir) && dir !== dirname(dir)) dir = dirname(dir);
  const s = statfsSync(dir);
  const free = Number(s.bavail) * Number(s.bsize);
  const text = `${(free / GB).toFixed(1)} GB free on the filesystem of ${home}`;
  if (free < 1 * GB) return fail("disk", text, "Free some space (e.g. destroy unused workspaces, 'docker image prune' for images you no longer need)");
  if (free < 5 * GB) return warn("disk", text, "Images and containers need a few GB; free some space");
  return ok("disk", text);
}

/** Which uid the workspace user takes here (the daemon runs as this user when the CLI starts it). */
function checkWorkspaceUser(): Check {
  const user = containerUser({ uid: process.getuid?.() ?? 1000, gid: process.getgid?.() ?? 1000 });
  return ok("workspace-user", describeContainerUser(user));
}

export async function runChecks(ctx: CliContext, env: Record<string, string | undefined>): Promise<Check[]> {
  const { checks: configChecks, config } = checkConfig(ctx.paths.config, env);
  const [docker, daemon, ports] = await Promise.all([checkDocker(config, env), checkDaemon(ctx), checkPorts(config)]);
  return [
    ...configChecks,
    ...docker,
    checkTool("git", ["git", "--version"], "Install git (Debian: apt-get install git; macOS: xcode-select --install)"),
    checkTool("ssh", ["ssh", "-V"], "Install the OpenSSH client (Debian: apt-get install openssh-client)"),
    checkAgent(env),
    ports,
    daemon,
    ...checkModes(ctx),
    checkDisk(ctx.paths.home),
    checkWorkspaceUser(),
  ];
}

export async function doctorCommand(ctx: CliContext): Promise<number> {
  const checks = await runChecks(ctx, process.env);
  const failed = checks.filter((c) => c.status === "fail").length;
  if (ctx.json) {
    await writeOut(JSON.stringify({ ok: failed === 0, checks }, null, 2) + "\n");
  } else {
    const mark = { ok: green("✓", ctx.color), warn: yellow("!", ctx.color), fail: red("✗", ctx.color) };
    const width = Math.max(...checks.map((c) => c.name.length));
    let text = "";
    for (const c of checks) {
      text += `${mark[c.status]} ${bold(c.name.padEnd(width), ctx.color)}  ${c.message}\n`;
      if (c.fix) text += `  ${" ".repeat(width)}  ${dim(`→ ${c.fix}`, ctx.color)}\n`;
    }
    const warns = checks.filter((c) => c.status === "warn").length;
    text += failed ? `\n${failed} check(s) failed${warns ? `, ${warns} warning(s)` : ""}\n` : `\nAll checks passed${warns ? ` (${warns} warning(s))` : ""}\n`;
    await writeOut(text);
  }
  return failed ? EXIT_CODES.error : EXIT_CODES.ok;
}
