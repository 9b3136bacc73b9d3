// Lifecycle hooks: each step is a shell command run inside a container as the `nexus` user (never on
// the host, so a cloned repository cannot run code here), with a timeout; output is kept as a log.
import { appendFileSync, mkdirSync, renameSync, statSync } from "node:fs";
import { dirname } from "node:path";
import type { HookName, HookStep } from "../config/project.ts";
import { shellQuote } from "../ssh/quote.ts";
import { NexusError } from "./errors.ts";

/** A hook, or devcontainer.json's initializeCommand (run on the host, with the same logs and timeouts). */
export type HookLabel = HookName | "initialize";

export interface HookResult {
  hook: HookLabel;
  exitCode: number;
  durationMs: number;
  /** The last lines of the output (stdout and stderr, as they came). */
  output: string;
  logFile: string;
  timedOut: boolean;
  steps: Array<{ name: string; exitCode: number; durationMs: number }>;
}

/** Runs one step; resolves with its exit code (124 when it ran past its timeout) and output. */
export type StepRunner = (step: HookStep, signal: AbortSignal) => Promise<{ exitCode: number; output: string }>;

const TAIL_LINES = 40;
/** A hook's log is rotated (one old copy, `<hook>.log.1`) past this size: health checks run often. */
export const MAX_HOOK_LOG_BYTES = 1024 * 1024;
const MAX_KEPT = 256 * 1024;

/** The command line a hook step runs in the workspace: in its cwd (default /workspace), with its env, under bash -l. */
export function hookCommandLine(hook: HookName, step: HookStep, workspaceName: string): string {
  const env = { ...step.env, NEXUS_HOOK: hook, NEXUS_WORKSPACE: workspaceName };
  const assignments = Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v}`)).join(" ");
  return `cd ${shellQuote(step.cwd ?? "/workspace")} && exec env ${assignments} bash -lc ${shellQuote(step.command)} 2>&1`;
}

/**
 * Runs a hook's steps in order, stopping at the first that fails; consecutive steps of one batch
 * run in parallel (all of them finish). Every step's output goes to the log.
 */
export async function runHookSteps(hook: HookLabel, steps: readonly HookStep[], run: StepRunner, logFile: string): Promise<HookResult> {
  mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
  rotateIfLarge(logFile);
  const started = Date.now();
  const result: HookResult = { hook, exitCode: 0, durationMs: 0, output: "", logFile, timedOut: false, steps: [] };
  let kept = "";
  for (let i = 0; i < steps.length; ) {
    const batch = steps[i]!.batch;
    let end = i + 1;
    while (batch !== undefined && end < steps.length && steps[end]!.batch === batch) end++;
    const group = steps.slice(i, end);
    i = end;
    const done = await Promise.all(group.map((step) => runStep(hook, step, run, logFile)));
    for (const { step, exitCode, output, timedOut, durationMs } of done) {
      kept = (kept + output).slice(-MAX_KEPT);
      if (timedOut) result.timedOut = true;
      result.steps.push({ name: step.name, exitCode, durationMs });
      if (exitCode !== 0 && result.exitCode === 0) result.exitCode = exitCode;
    }
    if (result.exitCode !== 0) break;
  }
  result.durationMs = Date.now() - started;
  result.output = tailLines(kept, TAIL_LINES);
  return result;
}

async function runStep(hook: HookLabel, step: HookStep, run: StepRunner, logFile: string) {
  const stepStarted = Date.now();
  appendFileSync(logFile, `==> ${new Date().toISOString()} ${hook} ${step.name}: ${step.command}\n`, { mode: 0o600 });
  const timeout = AbortSignal.timeout(step.timeoutSeconds * 1000);
  let exitCode: number;
  let output: string;
  try {
    ({ exitCode, output } = await run(step, timeout));
  } catch (err) {
    if (!timeout.aborted) throw err;
    exitCode = 124;
    output = "";
  }
  if (timeout.aborted) {
    exitCode = 124;
    output += `\n[nexus] ${hook} step '${step.name}' ran past its timeout of ${step.timeoutSeconds} s and was killed\n`;
  }
  // Parallel steps log whole, one after another as they finish, so their lines do not interleave.
  const header = step.batch !== undefined ? `==> ${hook} ${step.name} (parallel) output:\n` : "";
  appendFileSync(logFile, header + output + (output.endsWith("\n") || output === "" ? "" : "\n") + `<== exit ${exitCode} after ${Date.now() - stepStarted} ms\n`);
  return { step, exitCode, output, timedOut: timeout.aborted, durationMs: Date.now() - stepStarted };
}

function rotateIfLarge(file: string): void {
  try {
    if (statSync(file).size > MAX_HOOK_LOG_BYTES) renameSync(file, `${file}.1`);
  } catch {
    // No log yet.
  }
}

export function tailLines(text: string, n: number): string {
  const lines = text.replace(/\n$/, "").split("\n");
  return lines.slice(-n).join("\n");
}

/**
 * Asked to run a hook the workspace does not define (NOT_FOUND): nothing ran. The operation history
 * leaves it out (isHookNotDefined): every interactive attach asks for post-attach, defined or not.
 */
export function hookNotDefined(workspaceName: string, hook: HookName, files: readonly string[]): NexusError {
  return new NexusError("NOT_FOUND", `Workspace '${workspaceName}' has no ${hook} hook`, {
    suggestion: `Define hooks.${hook} in .nexus/workspace.yaml`,
    details: { workspaceName, hook, files },
  });
}

export function isHookNotDefined(err: unknown): boolean {
  return err instanceof NexusError && err.code === "NOT_FOUND" && typeof err.details?.hook === "string";
}

/** A failed pre-start/post-start: the workspace goes to `error` with this, and `nexus start` tries again. */
export function hookFailed(workspaceName: string, r: HookResult, file = ".nexus/workspace.yaml"): NexusError {
  const why = r.timedOut ? "ran past its timeout" : `exited with code ${r.exitCode}`;
  return new NexusError("WORKSPACE_START_FAILED", `The ${r.hook} hook of workspace '${workspaceName}' ${why}`, {
    suggestion: `Fix the hook in ${file}, then run 'nexus start ${workspaceName}' to try again (full log: ${r.logFile})`,
    details: { hook: r.hook, exitCode: r.exitCode, logTail: r.output.split("\n"), logFile: r.logFile, steps: r.steps },
    retryable: true,
  });
}
