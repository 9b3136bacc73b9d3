import { NexusError, type ErrorBody } from "../core/errors.ts";

/** Writes to stdout and waits until it is flushed, so an exit right after loses nothing. */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(text, () => resolve()));
}

export function writeErr(text: string): Promise<void> {
  return new Promise((resolve) => process.stderr.write(text, () => resolve()));
}

export function useColor(stream: { isTTY?: boolean }): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";
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

export function table(rows: string[][], color: boolean): string {
  if (rows.length === 0) return "";
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => visibleLength(r[i] ?? ""))));
  return rows
    .map((r, ri) => {
      const line = r.map((cell, i) => (i === r.length - 1 ? cell : cell + " ".repeat(widths[i]! - visibleLength(cell)))).join("  ");
      return ri === 0 ? bold(line, color) : line;
    })
    .join("\n") + "\n";
}

function visibleLength(s: string): number {
  return s.replace(/\u001b\[[0-9;]*m/g, "").length;
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}
