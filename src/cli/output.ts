import { NexusError, type ErrorBody } from "../core/errors.ts";
import { isTerminal as runtimeIsTerminal, writeStdio } from "../runtime/stdio.ts";

// Output goes through the runtime's own writers (src/runtime/stdio.ts): the first touch of
// process.stdout/stderr builds Node's stream objects, and importing node:fs or node:tty costs a
// short command (nexus version, list, exec) more than the rest of its work.

/** Writes to stdout and waits until it is written, so an exit right after loses nothing. */
export function writeOut(text: string | Uint8Array): Promise<void> {
  return writeStdio(1, text);
}

export function writeErr(text: string | Uint8Array): Promise<void> {
  return writeStdio(2, text);
}

/** Whether a descriptor is a terminal. All it decides is colour and prompts. */
export function isTerminal(fd: 0 | 1 | 2): boolean {
  return runtimeIsTerminal(fd);
}

export function useColor(fd: 1 | 2): boolean {
  return !process.env.NO_COLOR && process.env.TERM !== "dumb" && isTerminal(fd);
}

const paint = (code: string) => (text: string, on: boolean) => (on ? `\u001b[${code}m${text}\u001b[0m` : text);
export const red = paint("31");
export const dim = paint("2");
export const bold = paint("1");
export const green = paint("32");
export const yellow = paint("33");

/** An error for a person: message, code, and what to do next. */
export function formatError(err: NexusError, color: boolean): string {
  let text = `${red("Error:", color)} ${err.message} ${dim(`(${err.code})`, color)}\n`;
  if (err.suggestion) text += `  ${bold("→", color)} ${err.suggestion}\n`;
  const log = err.details?.containerLog ?? err.details?.log ?? err.details?.logTail;
  if (Array.isArray(log) && log.length > 0) text += dim(log.map((l) => `  | ${String(l)}`).join("\n"), color) + "\n";
  return text;
}

/** The JSON envelope: successes print the API's own body; failures print {"error": ...} as the API does. */
export function errorEnvelope(err: NexusError): { error: ErrorBody } {
  return { error: err.toJSON() };
}

// Plain loops: `nexus list` prints a table, and each callback run for the first time costs a short command fresh memory.
export function table(rows: string[][], color: boolean): string {
  if (rows.length === 0) return "";
  const widths: number[] = [];
  for (const r of rows) for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] ?? 0, visibleLength(r[i]!));
  let out = "";
  for (let ri = 0; ri < rows.length; ri++) {
    const r = rows[ri]!;
    let line = "";
    for (let i = 0; i < r.length; i++) line += i === r.length - 1 ? r[i]! : r[i]! + " ".repeat(widths[i]! - visibleLength(r[i]!)) + "  ";
    out += (ri === 0 ? bold(line, color) : line) + "\n";
  }
  return out;
}

function visibleLength(s: string): number {
  // Only a painted cell has escapes to leave out (compiling the regular expression cost `nexus list` 16 page faults).
  return s.includes("\u001b") ? s.replace(/\u001b\[[0-9;]*m/g, "").length : s.length;
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
