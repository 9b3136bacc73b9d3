// A session's raw terminal output (its pipe-pane log) as the text lines a person reads, the same
// lines tmux shows for plain output: escape sequences dropped, a carriage return or backspace writes
// over the line (progress bars end as their last state), tabs to 8-column stops, trailing blanks
// trimmed, what a full-screen program draws on the alternate screen left out. Pure: no I/O.

/** The invisible mark the session's wrapper prints once the command has ended (an OSC tmux ignores): `ESC ] nexus-exit;<code> BEL`. */
export const EXIT_MARK = "nexus-exit";
/** A line that never ends is cut at this many characters, so one follower holds a bounded line. */
export const MAX_LINE = 65_536;

type Mode = "text" | "esc" | "inter" | "csi" | "osc" | "string" | "stringEsc";

export interface TextChunk {
  lines: string[];
  /** The wrapper's exit mark was read: the command's code, and nothing of it comes after. */
  exitCode?: number;
}

export class TerminalLines {
  #mode: Mode = "text";
  #line = "";
  #col = 0;
  #seq = "";
  #alternate = false;
  #exit: number | undefined;

  /** The exit mark's code once it has been read. */
  get exitCode(): number | undefined {
    return this.#exit;
  }

  /** Takes decoded text; answers the lines it completed (and the exit code when the mark was in it). */
  write(text: string): TextChunk {
    const lines: string[] = [];
    let i = 0;
    while (i < text.length) {
      if (this.#mode === "text") {
        const run = printableRun(text, i);
        if (run > i) {
          if (!this.#alternate) this.#put(text.slice(i, run), lines);
          i = run;
          continue;
        }
        this.#control(text.charCodeAt(i), lines);
      } else {
        this.#escape(text[i]!);
      }
      i++;
    }
    return this.#exit === undefined ? { lines } : { lines, exitCode: this.#exit };
  }

  /** The line being written, as a line (the output ended without a newline). */
  flush(): string[] {
    const rest = this.#line.replace(/\s+$/, "");
    this.#line = "";
    this.#col = 0;
    return rest === "" ? [] : [rest];
  }

  #put(s: string, lines: string[]): void {
    const line = this.#line;
    if (this.#col === line.length) this.#line = line + s;
    else if (this.#col > line.length) this.#line = line + " ".repeat(this.#col - line.length) + s;
    else this.#line = line.slice(0, this.#col) + s + line.slice(this.#col + s.length);
    this.#col += s.length;
    if (this.#line.length >= MAX_LINE) {
      lines.push(this.#line);
      this.#line = "";
      this.#col = 0;
    }
  }

  #control(c: number, lines: string[]): void {
    switch (c) {
      case 0x1b:
        this.#mode = "esc";
        return;
      case 0x0d:
        this.#col = 0;
        return;
      case 0x0a:
      case 0x0b:
      case 0x0c:
        // A line feed keeps the column (the pty's own CR comes before it): as on the terminal.
        if (!this.#alternate) lines.push(this.#line.replace(/\s+$/, ""));
        this.#line = "";
        return;
      case 0x08:
        this.#col = Math.max(0, this.#col - 1);
        return;
      case 0x09:
        this.#col = (Math.floor(this.#col / 8) + 1) * 8;
        return;
      default:
        return; // BEL and the other controls draw nothing
    }
  }

  #escape(ch: string): void {
    const c = ch.charCodeAt(0);
    switch (this.#mode) {
      case "esc":
        this.#seq = "";
        if (ch === "[") this.#mode = "csi";
        else if (ch === "]") this.#mode = "osc";
        else if (ch === "P" || ch === "X" || ch === "^" || ch === "_") this.#mode = "string";
        else if (c >= 0x20 && c <= 0x2f) this.#mode = "inter";
        else this.#mode = "text"; // a two-byte sequence (ESC 7, ESC =, ESC M, ...)
        return;
      case "inter":
        if (c >= 0x30 && c <= 0x7e) this.#mode = "text";
        else if (c === 0x1b) this.#mode = "esc";
        return;
      case "csi":
        if (c >= 0x40 && c <= 0x7e) {
          this.#mode = "text";
          this.#csi(this.#seq, ch);
        } else if (c === 0x1b) this.#mode = "esc";
        else if (this.#seq.length < 64) this.#seq += ch;
        return;
      case "osc":
        if (c === 0x07) this.#endOsc();
        else if (c === 0x1b) this.#mode = "stringEsc";
        else if (this.#seq.length < 64) this.#seq += ch;
        return;
      case "string":
        if (c === 0x07) this.#mode = "text";
        else if (c === 0x1b) this.#mode = "stringEsc";
        return;
      case "stringEsc":
        // ESC \ ends the string; an ESC starting anything else cancels it (as terminals do).
        this.#endOsc();
        if (ch !== "\\") {
          this.#mode = "esc";
          this.#escape(ch);
        }
        return;
      default:
        return;
    }
  }

  #endOsc(): void {
    this.#mode = "text";
    const m = new RegExp(`^${EXIT_MARK};(\\d+)$`).exec(this.#seq);
    if (m) this.#exit = Number(m[1]);
  }

  #csi(params: string, final: string): void {
    const priv = params.startsWith("?");
    const nums = params.replace(/^[?>=<]/, "").split(";").map((p) => Number.parseInt(p, 10) || 0);
    const n = Math.max(1, nums[0] ?? 0);
    const line = this.#line;
    switch (final) {
      case "K": // erase in line: to the end, to the cursor, all
        if (nums[0] === 1) this.#line = " ".repeat(Math.min(this.#col + 1, line.length)) + line.slice(this.#col + 1);
        else if (nums[0] === 2) this.#line = "";
        else this.#line = line.slice(0, this.#col);
        return;
      case "C":
        this.#col += n;
        return;
      case "D":
        this.#col = Math.max(0, this.#col - n);
        return;
      case "G":
        this.#col = n - 1;
        return;
      case "X":
        if (this.#col < line.length) this.#line = line.slice(0, this.#col) + " ".repeat(Math.min(n, line.length - this.#col)) + line.slice(this.#col + n);
        return;
      case "P":
        this.#line = line.slice(0, this.#col) + line.slice(this.#col + n);
        return;
      case "@":
        if (this.#col < line.length) this.#line = line.slice(0, this.#col) + " ".repeat(n) + line.slice(this.#col);
        return;
      case "h":
      case "l":
        if (priv && nums.some((p) => p === 1049 || p === 1047 || p === 47)) this.#alternate = final === "h";
        return;
      default:
        return; // colours, cursor rows, scrolling regions, modes: nothing on a line of text
    }
  }
}

/** The end of the run of printable characters from `i` (C0 controls and DEL end it). */
function printableRun(text: string, i: number): number {
  let j = i;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c < 0x20 || c === 0x7f) break;
    j++;
  }
  return j;
}
