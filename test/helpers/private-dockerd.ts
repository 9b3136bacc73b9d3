// A private Docker engine for a test that must stop or restart an engine, or needs a second one: a
// dockerd this process starts itself (scripts/private-dockerd.sh: its own data-root, exec-root,
// pidfile, socket, containerd and a bridge of its own), so the machine's engine and everybody's
// containers on it are never touched. dockerd is this process's child; stop() removes all it made.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { until } from "./wait.ts";
import { freePort } from "./ports.ts";

const SCRIPT = join(import.meta.dir, "..", "..", "scripts", "private-dockerd.sh");

/** Why a private engine cannot run here (then the test is skipped with this reason), or undefined. */
export function privateDockerdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "a private dockerd needs root (dockerd runs as root only); CI runs as root";
  for (const bin of ["dockerd", "docker", "ip"]) {
    if (spawnSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" }).status !== 0) return `${bin} is not installed`;
  }
  return undefined;
}

/** ifindex of the machine engine's bridge docker0, or undefined when there is none. */
function docker0Index(): string | undefined {
  const r = spawnSync("ip", ["-o", "link", "show", "docker0"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.split(":")[0] : undefined;
}

export class PrivateDockerd implements AsyncDisposable {
  readonly dir: string;
  /** DOCKER_HOST of this engine. */
  readonly host: string;
  /** tcp://127.0.0.1:<port> when started with `tcp` (TLS verified both ways), else undefined. */
  tcpHost: string | undefined;
  readonly #docker0: string | undefined;
  #child: ChildProcess | undefined;
  #exit: Promise<void> = Promise.resolve();

  private constructor(dir: string) {
    this.dir = dir;
    this.host = `unix://${dir}/docker.sock`;
    this.#docker0 = docker0Index();
  }

  /**
   * Starts one and copies `images` into it from the machine's engine (its containers reach no
   * registry). Everything it made is removed again when starting fails.
   */
  static async start(opts: { images?: string[]; tcp?: { ca: string; cert: string; key: string } } = {}): Promise<PrivateDockerd> {
    const why = privateDockerdUnavailable();
    if (why) throw new Error(why);
    // Short: the sockets under it must fit in sun_path (108 bytes).
    const engine = new PrivateDockerd(mkdtempSync("/tmp/nxd."));
    try {
      engine.#script("setup");
      if (opts.tcp) {
        // Also on tcp://127.0.0.1:<a free port> with --tlsverify (the server's certificate and the CA its clients must be signed by).
        const port = await freePort();
        writeFileSync(join(engine.dir, "tcp.env"), `TCP_PORT=${port}\nTLS_CA=${opts.tcp.ca}\nTLS_CERT=${opts.tcp.cert}\nTLS_KEY=${opts.tcp.key}\n`);
        engine.tcpHost = `tcp://127.0.0.1:${port}`;
      }
      await engine.startEngine();
      if (opts.images?.length) engine.#script("load", ...opts.images);
      return engine;
    } catch (err) {
      await engine.stop();
      throw err;
    }
  }

  /** The environment of a process that should use this engine. */
  env(base: Record<string, string | undefined> = process.env): Record<string, string | undefined> {
    return { ...base, DOCKER_HOST: this.host };
  }

  /** The docker CLI against this engine. */
  docker(...args: string[]): string {
    return execFileSync("docker", ["-H", this.host, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 }).trim();
  }

  answers(): boolean {
    return spawnSync("docker", ["-H", this.host, "info", "--format", "{{.ServerVersion}}"], { stdio: "ignore", timeout: 10_000, killSignal: "SIGKILL" }).status === 0;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts its dockerd (again, over the same data) and waits until it answers. */
  async startEngine(): Promise<void> {
    if (this.#child) throw new Error("the private dockerd runs already");
    const child = spawn("bash", [SCRIPT, "run", this.dir], { stdio: "ignore" }); // `run` execs dockerd: same pid
    this.#child = child;
    let exited: string | undefined;
    this.#exit = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        exited = `dockerd exited (${signal ?? code})`;
        if (this.#child === child) this.#child = undefined;
        resolve();
      }),
    );
    const answers = () => {
      if (exited) throw new Error(`the private dockerd answers: ${exited}; log:\n${this.logTail()}`);
      return this.answers();
    };
    await until("the private dockerd answers", answers, Boolean, { timeoutMs: 60_000, intervalMs: 200 });
    this.#checkDocker0();
  }

  /** Stops its dockerd (SIGTERM: it stops its containers, as a real engine shutdown does) and waits until it is gone. */
  async stopEngine(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill("SIGTERM");
    const gone = await Promise.race([this.#exit.then(() => true), Bun.sleep(60_000).then(() => false)]);
    if (!gone) {
      child.kill("SIGKILL");
      await this.#exit;
    }
  }

  async restart(): Promise<void> {
    await this.stopEngine();
    await this.startEngine();
  }

  /** Stops it and removes everything it made: containers' processes, mounts, its bridge, the directory. */
  async stop(): Promise<void> {
    await this.stopEngine();
    this.#script("stop");
    this.#checkDocker0();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  logTail(lines = 20): string {
    try {
      return readFileSync(join(this.dir, "dockerd.log"), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no dockerd.log)";
    }
  }

  #script(...args: string[]): void {
    const [cmd, ...rest] = args;
    const r = spawnSync("bash", [SCRIPT, cmd!, this.dir, ...rest], { encoding: "utf8", timeout: 300_000, killSignal: "SIGKILL" });
    if (r.status !== 0) throw new Error(`private-dockerd.sh ${cmd} failed (${r.status ?? r.signal}): ${r.stderr}`);
  }

  /** The machine engine's bridge must be the very same link as before: a loud failure, never a silent one. */
  #checkDocker0(): void {
    const now = docker0Index();
    if (now !== this.#docker0) throw new Error(`docker0 changed while a private dockerd ran (ifindex ${this.#docker0 ?? "none"} -> ${now ?? "none"}): the machine's engine was touched`);
  }
}
