// One long-lived shell inside the workspace, reached through the session's multiplexed ssh: the
// fast route (fast-route.ts) sends it a script per request and reads the answer up to a marker.
// A request then costs one round trip on an open channel, not an ssh client's start and a new
// channel (0.2 s loaded, most of a small pass). The shell ends with its ssh: when the daemon goes,
// even by SIGKILL, its stdin closes and `sh` returns.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { ProcessTracker } from "./processes.ts";

export class ShellAgent {
  readonly #procs: ProcessTracker;
  readonly #command: string;
  readonly #args: string[];
  #child: ChildProcess | null = null;
  #buf = "";
  #waiting: { marker: string; resolve: (out: string) => void; reject: (err: Error) => void } | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  /** `command args` must start a POSIX shell reading its script from stdin (`ssh <alias> sh`, or `sh`). */
  constructor(procs: ProcessTracker, command: string, args: string[]) {
    this.#procs = procs;
    this.#command = command;
    this.#args = args;
  }

  /** Runs `script` in a subshell of the agent's shell; answers what it printed on stdout (stderr is dropped). */
  run(script: string, timeoutMs = 30_000): Promise<string> {
    const next = this.#queue.then(() => this.#run(script, timeoutMs));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #start(): ChildProcess {
    if (this.#child) return this.#child;
    const child = this.#procs.spawn(this.#command, this.#args, { stdio: ["pipe", "pipe", "ignore"] });
    this.#child = child;
    this.#buf = "";
    child.stdout!.on("data", (b: Buffer) => {
      this.#buf += b.toString("utf8");
      const w = this.#waiting;
      if (!w) return;
      const at = this.#buf.indexOf(w.marker);
      if (at < 0) return;
      const out = this.#buf.slice(0, at);
      this.#buf = this.#buf.slice(at + w.marker.length);
      this.#waiting = null;
      w.resolve(out);
    });
    child.stdin!.on("error", () => undefined);
    child.on("error", (err) => this.#gone(child, err));
    child.on("close", () => this.#gone(child, new Error("the workspace's shell ended")));
    return child;
  }

  #gone(child: ChildProcess, err: Error): void {
    if (this.#child !== child) return;
    this.#child = null;
    const w = this.#waiting;
    this.#waiting = null;
    w?.reject(err);
  }

  #run(script: string, timeoutMs: number): Promise<string> {
    const child = this.#start();
    const token = randomBytes(12).toString("hex");
    const marker = `\n@@nexus-agent-${token}@@\n`;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A shell that does not answer is of no further use: the next request starts another.
        this.#waiting = null;
        this.#kill(child);
        reject(new Error(`the workspace's shell did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting = {
        marker,
        resolve: (out) => {
          clearTimeout(timer);
          resolve(out);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      // A subshell: an `exit` or a failing command ends the request, never the agent.
      child.stdin!.write(`(\n${script}\n) </dev/null 2>/dev/null\nprintf '\\n@@nexus-agent-%s@@\\n' ${token}\n`);
    });
  }

  #kill(child: ChildProcess): void {
    if (this.#child === child) this.#child = null;
    child.stdin?.end();
    child.kill("SIGTERM");
  }

  close(): void {
    const child = this.#child;
    this.#child = null;
    if (child) this.#kill(child);
    const w = this.#waiting;
    this.#waiting = null;
    w?.reject(new Error("the sync session stopped"));
  }
}
