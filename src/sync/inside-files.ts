// How the fast route reads and writes files inside the workspace: through one long-lived process
// on the session's multiplexed ssh. `python3` (the workspace image has it) does a request in its own
// process, no fork per file (under load each fork of stat/base64/md5sum costs tens of ms); an image
// without python3 gets the POSIX shell and coreutils (agent.ts, fast-route.ts's scripts). Both
// answer the same: a state per path, and ok | skip | fail per compare-and-swap write.
import type { ChildProcess } from "node:child_process";
import { ShellAgent } from "./agent.ts";
import { FAST_MAX_BYTES, type FileState } from "./fast-decide.ts";
import { parseState, readScript, writeScript, type InsideWrite } from "./fast-script.ts";
import type { ProcessTracker } from "./processes.ts";

export interface InsideFiles {
  /** Each path's state inside, in order; null when the answer could not be read. */
  states(root: string, paths: readonly string[]): Promise<FileState[] | null>;
  /** Each write's outcome, in order: ok, skip (the path is no longer `expect`), fail. */
  write(root: string, writes: readonly InsideWrite[]): Promise<string[]>;
  close(): void;
}

/** The agent's program: JSON lines in, JSON lines out; states as readScript's lines, writes as writeScript's. */
export const PYTHON_AGENT = String.raw`
import sys, os, json, hashlib, base64, stat
n = 0
def st(root, p, mx):
    a = os.path.join(root, p)
    try:
        s = os.lstat(a)
    except FileNotFoundError:
        return "A" if os.path.isdir(os.path.dirname(a)) else "N"
    except OSError:
        return "O"
    if not stat.S_ISREG(s.st_mode):
        return "O"
    if s.st_size > mx:
        return "B"
    try:
        with open(a, "rb") as f:
            c = f.read()
    except OSError:
        return "O"
    ns = s.st_mtime_ns
    return "F %d %o %d.%09d :%s" % (len(c), stat.S_IMODE(s.st_mode), ns // 10**9, ns % 10**9, base64.b64encode(c).decode())
def cur(a):
    try:
        s = os.lstat(a)
    except FileNotFoundError:
        return "absent"
    if not stat.S_ISREG(s.st_mode):
        return "O"
    with open(a, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()
def wr(root, w):
    global n
    a = os.path.join(root, w["path"])
    try:
        if cur(a) != w["expect"]:
            return "skip"
    except OSError:
        return "skip"
    n += 1
    t = os.path.join(os.path.dirname(a), ".unison.nexus.%d.%d.unison.tmp" % (os.getpid(), n))
    try:
        with open(t, "wb") as f:
            f.write(base64.b64decode(w["b64"]))
        os.chmod(t, w["mode"])
        sec, _, frac = w["mtime"].partition(".")
        ns = int(sec) * 10**9 + int((frac + "000000000")[:9])
        os.utime(t, ns=(ns, ns))
        os.replace(t, a)
        return "ok"
    except Exception:
        try:
            os.unlink(t)
        except OSError:
            pass
        return "fail"
for line in sys.stdin:
    r = json.loads(line)
    if r["op"] == "states":
        out = [st(r["root"], p, r["max"]) for p in r["paths"]]
    else:
        out = [wr(r["root"], w) for w in r["writes"]]
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
`;

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** python3 inside, one JSON line per request. */
export class PythonInside implements InsideFiles {
  readonly #procs: ProcessTracker;
  readonly #command: string;
  readonly #args: string[];
  #child: ChildProcess | null = null;
  #buf = "";
  #waiting: ((line: string | null) => void) | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  /** Set once python3 could not run: the caller falls back to the shell. */
  failed = false;

  /** `command args` run a remote command line (`ssh <alias>`), or a local one (`sh -c`). */
  constructor(procs: ProcessTracker, command: string, args: string[]) {
    this.#procs = procs;
    this.#command = command;
    this.#args = args;
  }

  #start(): ChildProcess {
    if (this.#child) return this.#child;
    const child = this.#procs.spawn(this.#command, [...this.#args, `exec python3 -u -c ${shq(PYTHON_AGENT)}`], { stdio: ["pipe", "pipe", "ignore"] });
    this.#child = child;
    this.#buf = "";
    child.stdout!.on("data", (b: Buffer) => {
      this.#buf += b.toString("utf8");
      const nl = this.#buf.indexOf("\n");
      if (nl < 0 || !this.#waiting) return;
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      const w = this.#waiting;
      this.#waiting = null;
      w(line);
    });
    child.stdin!.on("error", () => undefined);
    const gone = (code: number | null) => {
      if (this.#child !== child) return;
      this.#child = null;
      if (code === 127) this.failed = true;
      const w = this.#waiting;
      this.#waiting = null;
      w?.(null);
    };
    child.on("error", () => gone(127));
    child.on("close", (code) => gone(code));
    return child;
  }

  #request(req: unknown, timeoutMs = 30_000): Promise<unknown[] | null> {
    const next = this.#queue.then(
      () =>
        new Promise<unknown[] | null>((resolve) => {
          const child = this.#start();
          const timer = setTimeout(() => {
            this.#waiting = null;
            this.close();
            resolve(null);
          }, timeoutMs);
          this.#waiting = (line) => {
            clearTimeout(timer);
            try {
              const v = line === null ? null : (JSON.parse(line) as unknown);
              resolve(Array.isArray(v) ? v : null);
            } catch {
              resolve(null);
            }
          };
          child.stdin!.write(JSON.stringify(req) + "\n");
        }),
    );
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async states(root: string, paths: readonly string[]): Promise<FileState[] | null> {
    const out = await this.#request({ op: "states", root, paths, max: FAST_MAX_BYTES });
    return out && out.length === paths.length ? out.map((l) => parseState(String(l))) : null;
  }

  async write(root: string, writes: readonly InsideWrite[]): Promise<string[]> {
    const out = await this.#request({ op: "write", root, writes: writes.map((w) => ({ path: w.path, expect: w.expect, b64: w.content.toString("base64"), mode: w.mode & 0o7777, mtime: w.mtime })) });
    return (out ?? []).map(String);
  }

  close(): void {
    const child = this.#child;
    this.#child = null;
    if (child) {
      child.stdin?.end();
      child.kill("SIGTERM");
    }
    const w = this.#waiting;
    this.#waiting = null;
    w?.(null);
  }
}

/** The POSIX shell and coreutils inside (agent.ts). */
export class ShellInside implements InsideFiles {
  readonly #agent: ShellAgent;

  constructor(procs: ProcessTracker, command: string, args: string[]) {
    this.#agent = new ShellAgent(procs, command, [...args, "sh"]);
  }

  async states(root: string, paths: readonly string[]): Promise<FileState[] | null> {
    const out = await this.#agent.run(readScript(root, paths)).catch(() => null);
    if (out === null) return null;
    const lines = out.replace(/^\n+/, "").split("\n").filter((l) => l !== "");
    return lines.length === paths.length ? lines.map(parseState) : null;
  }

  async write(root: string, writes: readonly InsideWrite[]): Promise<string[]> {
    const out = await this.#agent.run(writeScript(root, writes)).catch(() => "");
    return out.replace(/^\n+/, "").split("\n").filter((l) => l !== "");
  }

  close(): void {
    this.#agent.close();
  }
}

/** python3 while it runs; the shell from the first time it cannot start (exit 127: no python3 there). */
export class AutoInside implements InsideFiles {
  readonly #py: PythonInside;
  readonly #sh: ShellInside;

  constructor(procs: ProcessTracker, command: string, args: string[]) {
    this.#py = new PythonInside(procs, command, args);
    this.#sh = new ShellInside(procs, command, args);
  }

  async states(root: string, paths: readonly string[]): Promise<FileState[] | null> {
    if (!this.#py.failed) {
      const r = await this.#py.states(root, paths);
      if (r || !this.#py.failed) return r;
    }
    return this.#sh.states(root, paths);
  }

  write(root: string, writes: readonly InsideWrite[]): Promise<string[]> {
    return this.#py.failed ? this.#sh.write(root, writes) : this.#py.write(root, writes);
  }

  close(): void {
    this.#py.close();
    this.#sh.close();
  }
}
