// Progress lines of a streamed operation (create, start) on stderr, each with the time since the
// command began. An image build's detail lines (the package being unpacked, …) change many times a
// second: a terminal shows them on one line, redrawn in place with a spinner and the time the
// current build step has taken, so it keeps moving even while apt is silent; a log (no terminal)
// gets one of them every few seconds.
import { BUILD_DETAIL_PHASE } from "../docker/build-progress.ts";
import type { CliContext } from "./context.ts";
import { dim } from "./output.ts";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const LOG_DETAIL_EVERY_MS = 3_000;

export interface ProgressPrinter {
  event(e: Record<string, unknown>): void;
  /** Clears the live line; call when the operation ends, success or not. */
  end(): void;
}

export function progressPrinter(ctx: CliContext, started = Date.now(), live = process.stderr.isTTY === true && !ctx.json && !Object.hasOwn(ctx, "log")): ProgressPrinter {
  const stamp = () => dim(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ctx.color);
  let step: { text: string; at: number } | undefined;
  let detail = "";
  let lastLogged = 0;
  let frame = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let drawn = false;

  const clear = () => {
    if (drawn) process.stderr.write("\r\u001b[K");
    drawn = false;
  };
  const draw = () => {
    if (!step) return;
    const took = Math.floor((Date.now() - step.at) / 1000);
    const text = `${FRAMES[frame++ % FRAMES.length]} ${detail || step.text} (${took}s)`;
    const width = (process.stderr.columns || 100) - 10;
    process.stderr.write(`\r\u001b[K${stamp()} ${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    drawn = true;
  };
  const stopTimer = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
    step = undefined;
    clear();
  };

  return {
    event(e) {
      if (e.type !== "progress") return;
      const message = String(e.message);
      if (e.phase === BUILD_DETAIL_PHASE) {
        if (live) detail = message;
        else if (Date.now() - lastLogged >= LOG_DETAIL_EVERY_MS) {
          lastLogged = Date.now();
          void ctx.log(`${stamp()} ${message}`);
        }
        return;
      }
      clear();
      void ctx.log(`${stamp()} ${message}`);
      if (e.phase === "image" && message.startsWith("Step ")) {
        step = { text: message, at: Date.now() };
        detail = "";
        lastLogged = Date.now();
        if (live && !timer) {
          timer = setInterval(draw, 100);
          timer.unref?.();
        }
      } else stopTimer();
    },
    end: stopTimer,
  };
}
