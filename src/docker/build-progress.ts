// What an image build is doing, from the builder's own output: each `Step N/M` line, and inside a
// step the apt work a first build spends its minutes on (package lists, downloads, unpacking and
// setting up package k of n, triggers, locales), so `nexus create` shows movement instead of one
// frozen `Step 4/13 : RUN apt-get …` line.
import type { ProgressEvent } from "../kernel/progress.ts";

/** Phase of the lines inside a step: a terminal shows them in place, a log keeps some of them. */
export const BUILD_DETAIL_PHASE = "image-detail";

const MAX_LINE = 120;

function short(text: string): string {
  return text.length > MAX_LINE ? `${text.slice(0, MAX_LINE - 1)}…` : text;
}

/** A package name without its architecture (`libc6:amd64` → `libc6`). */
function pkg(name: string): string {
  return name.replace(/:[a-z0-9]+$/, "");
}

export class BuildProgress {
  readonly #emit: (e: ProgressEvent) => void;
  #partial = "";
  #step = "";
  #packages = 0;
  #unpacked = 0;
  #setUp = 0;

  constructor(emit: (e: ProgressEvent) => void) {
    this.#emit = emit;
  }

  /** Feeds a chunk of the build's output (`stream` of the engine's build messages). */
  feed(chunk: string): void {
    const text = this.#partial + chunk;
    const lines = text.split(/\r?\n|\r/);
    this.#partial = lines.pop() ?? "";
    for (const line of lines) this.#line(line.trim());
  }

  #detail(what: string): void {
    this.#emit({ phase: BUILD_DETAIL_PHASE, message: short(this.#step ? `${this.#step}: ${what}` : what) });
  }

  #of(n: number): string {
    return this.#packages > 0 ? ` (${n}/${this.#packages})` : "";
  }

  #line(line: string): void {
    if (!line) return;
    const step = /^Step (\d+\/\d+) :/.exec(line);
    if (step) {
      this.#step = `Step ${step[1]}`;
      this.#packages = this.#unpacked = this.#setUp = 0;
      this.#emit({ phase: "image", message: short(line) });
      return;
    }
    let m: RegExpExecArray | null;
    if ((m = /^Get:\d+ \S+ \S+ \S+ (\S+) \S+ \S+ \[([^\]]+)\]/.exec(line))) this.#detail(`downloading ${pkg(m[1]!)} (${m[2]})`);
    else if (/^(Get|Hit|Ign):\d+ /.test(line)) this.#detail("updating the package lists");
    else if (/^Reading package lists/.test(line)) this.#detail("reading the package lists");
    else if ((m = /^(\d+) upgraded, (\d+) newly installed/.exec(line))) {
      this.#packages = Number(m[1]) + Number(m[2]);
      this.#detail(`${this.#packages} packages to install`);
    } else if ((m = /^Unpacking (\S+)/.exec(line))) this.#detail(`unpacking ${pkg(m[1]!)}${this.#of(++this.#unpacked)}`);
    else if ((m = /^Setting up (\S+)/.exec(line))) this.#detail(`setting up ${pkg(m[1]!)}${this.#of(++this.#setUp)}`);
    else if ((m = /^Processing triggers for (\S+)/.exec(line))) this.#detail(`processing triggers for ${pkg(m[1]!)}`);
    else if (/^Generating locales/.test(line)) this.#detail("generating locales");
  }
}
