// A SyncManager in a process of its own, so a test can SIGKILL it as the daemon could be:
//   bun test/helpers/sync-child.ts '<json>'   json: { dir, attach?: { id, options } }
// Without `attach` it restores the persisted sessions (a daemon's start). Prints "ready" when done.
import { SyncManager } from "../../src/sync/manager.ts";
import type { AttachOptions } from "../../src/sync/types.ts";

const input = JSON.parse(process.argv[2]!) as { dir: string; attach?: { id: string; options: AttachOptions } };
const m = new SyncManager({ dir: input.dir, env: process.env, log: (s) => process.stderr.write(`${s}\n`) });
if (input.attach) await m.attach(input.attach.id, input.attach.options);
else await m.restore();
process.stdout.write("ready\n");
setInterval(() => undefined, 60_000);
