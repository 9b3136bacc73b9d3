// The line a command prints on stderr when the daemon resumed a paused workspace to run it. Its own
// module: `nexus exec` (the hot path) prints it, and importing the services command for it loaded
// that whole module on every exec.

/** The stderr line when an operation resumed a paused workspace first (exec, cp and the services commands print it). */
export function resumedLine(ws: string, r: object): string {
  return `nexus: resumed the paused workspace ${ws} (${Number((r as { durationMs?: unknown }).durationMs)} ms)`;
}
