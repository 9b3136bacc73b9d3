// The in-container service supervisor (nexus-supervise.py beside this file, a real Python file), held
// inside the binary and copied into every workspace at start (so a new Nexus needs no new image). It
// runs as the `nexus` user, detached from the SSH channel that started it, so services outlive the CLI
// and the daemon. One supervisor per service: it restarts the command with backoff, probes its health,
// and keeps a timestamped log.
//
// A text import: `bun build --compile` embeds the file's text in the binary, and Bun and Deno both read
// it from source the same way (test/unit/supervisor.test.ts runs the text that arrives).
import SUPERVISOR_SOURCE from "./nexus-supervise.py" with { type: "text" };

export const SUPERVISOR_PATH = "/usr/local/lib/nexus/nexus-supervise";
/** Per-service folders (spec, state, log) under the workspace user's home volume (the script's ROOT default says the same). */
export const SERVICES_DIR = "/home/nexus/.local/state/nexus/services";

/** The script's text, as written into each container at SUPERVISOR_PATH. */
export const SUPERVISOR_PY: string = SUPERVISOR_SOURCE;
