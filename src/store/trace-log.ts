// The operation history on disk: JSON lines in ~/.nexus/trace/, one file written and a few older
// ones rotated out by size. JSON lines because appending a line is all a record costs (no native
// module, the same on Bun and Deno), a crash loses at most the line being written (a torn last line
// is skipped on read), and `trace export` is the files as they are.
import { readFile, rename, rm, stat } from "node:fs/promises";
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { TraceRecord } from "../kernel/trace.ts";
import { writeFileAtomic } from "./atomic.ts";

export interface TraceLogOptions {
  /** The file being written rotates once it is past this many bytes. */
  maxBytes?: number;
  /** Rotated files kept beside it (operations.1.jsonl is the newest of them). */
  keep?: number;
}

export const TRACE_FILE = "operations.jsonl";

/** Appends, reads, and prunes the history; every file operation runs one after the other. */
export class TraceLog {
  readonly dir: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  #size: number | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(dir: string, opts: TraceLogOptions = {}) {
    this.dir = dir;
    this.#maxBytes = opts.maxBytes ?? 4 * 1024 * 1024;
    this.#keep = opts.keep ?? 3;
  }

  get file(): string {
    return join(this.dir, TRACE_FILE);
  }

  /** The files, oldest first. */
  files(): string[] {
    const rotated = Array.from({ length: this.#keep }, (_, i) => join(this.dir, `operations.${this.#keep - i}.jsonl`));
    return [...rotated, this.file];
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => {});
    return next;
  }

  /** Appends records as lines (one write), rotating first when the file is full. */
  append(records: readonly TraceRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const text = records.map((r) => JSON.stringify(r)).join("\n") + "\n";
    return this.#serial(async () => {
      if (this.#size === undefined) {
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        this.#size = await stat(this.file).then((s) => s.size, () => 0);
      }
      if (this.#size > 0 && this.#size + text.length > this.#maxBytes) await this.#rotate();
      // Written on the event loop's thread: a few hundred bytes to the page cache cost less than
      // handing them to the thread pool and being woken when it is done (every exec appends). The
      // folder is made once, not before each append; removed meanwhile, it is made again.
      try {
        appendFileSync(this.file, text, { mode: 0o600 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        this.#size = 0;
        appendFileSync(this.file, text, { mode: 0o600 });
      }
      this.#size += Buffer.byteLength(text);
    });
  }

  async #rotate(): Promise<void> {
    await rm(join(this.dir, `operations.${this.#keep}.jsonl`), { force: true });
    for (let i = this.#keep - 1; i >= 1; i--) await rename(join(this.dir, `operations.${i}.jsonl`), join(this.dir, `operations.${i + 1}.jsonl`)).catch(() => {});
    await rename(this.file, join(this.dir, "operations.1.jsonl")).catch(() => {});
    this.#size = 0;
  }

  /** Every record, oldest first (after the appends asked for before). A line that does not parse is skipped. */
  read(): Promise<TraceRecord[]> {
    return this.#serial(async () => {
      const out: TraceRecord[] = [];
      for (const f of this.files()) out.push(...parseLines(await readFile(f, "utf8").catch(() => "")));
      return out;
    });
  }

  /** Removes records that started before `before`; answers how many went. */
  prune(before: Date): Promise<number> {
    return this.#serial(async () => {
      let removed = 0;
      for (const f of this.files()) {
        const text = await readFile(f, "utf8").catch(() => undefined);
        if (text === undefined) continue;
        const all = parseLines(text);
        const kept = all.filter((r) => !(Date.parse(r.startedAt) < before.getTime()));
        removed += all.length - kept.length;
        if (kept.length === all.length) continue;
        if (kept.length === 0 && f !== this.file) await rm(f, { force: true });
        else writeFileAtomic(f, kept.map((r) => JSON.stringify(r) + "\n").join(""), 0o600);
      }
      this.#size = undefined;
      return removed;
    });
  }
}

function parseLines(text: string): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      const r = JSON.parse(line) as TraceRecord;
      if (r && typeof r.id === "string" && typeof r.operation === "string" && typeof r.startedAt === "string") out.push(r);
    } catch {
      // A line torn by a crash mid-write: the rest of the history still reads.
    }
  }
  return out;
}
