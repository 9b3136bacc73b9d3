// `nexus engines`: the configured engines, whether they answer now, their version and how many
// workspaces of this daemon run on each. Asked in parallel, each with a deadline, so one engine away
// does not hold up the answer.
import { LOCAL_ENGINE } from "../config/engines.ts";
import type { EngineDirectory } from "../docker/container-engine.ts";
import type { WorkspaceRecord } from "../kernel/types.ts";

export interface EngineView {
  name: string;
  host: string;
  remote: boolean;
  default: boolean;
  reachable: boolean;
  version: string | null;
  ncpu: number | null;
  memTotal: number | null;
  workspaces: number;
  error?: { code: string; message: string; suggestion?: string };
}

const PING_TIMEOUT_MS = 10_000;

export async function listEngines(engines: EngineDirectory, records: readonly WorkspaceRecord[], defaultEngine: string): Promise<EngineView[]> {
  return Promise.all(
    engines.names().map(async (name): Promise<EngineView> => {
      const info = engines.info(name);
      const base = { name, host: info.host, remote: info.remote, default: name === defaultEngine, workspaces: records.filter((r) => (r.engine ?? LOCAL_ENGINE) === name).length };
      try {
        const engine = engines.get(name);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const ping = await Promise.race([
          engine.ping(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${PING_TIMEOUT_MS / 1000} s`), { code: "BACKEND_UNAVAILABLE" })), PING_TIMEOUT_MS);
          }),
        ]).finally(() => clearTimeout(timer));
        return { ...base, reachable: true, version: ping.version, ncpu: ping.ncpu, memTotal: ping.memTotal };
      } catch (err) {
        const e = err as { code?: string; message: string; suggestion?: string };
        return { ...base, reachable: false, version: null, ncpu: null, memTotal: null, error: { code: e.code ?? "BACKEND_UNAVAILABLE", message: e.message, ...(e.suggestion ? { suggestion: e.suggestion } : {}) } };
      }
    }),
  );
}
