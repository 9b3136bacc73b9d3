// The default timeout of a test file whose tests touch real containers, daemons or child processes.
// bun 1.4.5 keeps a preload's setDefaultTimeout for the first test file of a run only
// (oven-sh/bun#43787): every later file is back on bun's 5 s unless `bun test --timeout` is given,
// and 5 s is what such a test takes on a loaded 2-core machine. setDefaultTimeout is per file, so
// each such file calls this at its top level and has the generous default however it is run.
import { setDefaultTimeout } from "bun:test";

export const SLOW_TEST_MS = 120_000;

export function slowTests(ms = SLOW_TEST_MS): void {
  setDefaultTimeout(ms);
}
