// What recording an operation costs (src/core/trace/): the same façade call — exec on a stopped
// workspace, which a real WorkspaceService refuses at once (INVALID_STATE; no engine, no SSH, so the
// call is as cheap as a call gets and the recording's share as large as it can be) — made directly
// (the floor) and through the traced façade, records written to a real history file. Prints
// figures; never fails on a miss.
//
//   bun bench/trace.ts            (BENCH_CALLS=N calls per round, default 20000)
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../src/config/load.ts";
import { EventBus } from "../src/core/events.ts";
import { silentLogger } from "../src/core/log.ts";
import { PortAllocator } from "../src/core/ports.ts";
import { tracedFacades } from "../src/core/trace/facades.ts";
import { OperationTrace } from "../src/core/trace/recorder.ts";
import { withSurface } from "../src/core/trace/surface.ts";
import { WorkspaceService } from "../src/core/workspaces.ts";
import { DockerEngine } from "../src/docker/engine.ts";
import { generateEd25519 } from "../src/ssh/keys.ts";
import { SshPool } from "../src/ssh/pool.ts";
import { nexusPaths } from "../src/store/paths.ts";
import { TraceLog } from "../src/store/trace-log.ts";
import { WorkspaceStore } from "../src/store/workspaces.ts";
import { makeRecord } from "../test/helpers/records.ts";

const CALLS = Number(process.env.BENCH_CALLS || 20_000);
const dir = mkdtempSync(join(tmpdir(), "nexus-bench-trace-"));
try {
  const paths = nexusPaths({ NEXUS_HOME: dir });
  const config = parseConfig("", "bench.yaml");
  const key = generateEd25519("bench");
  const store = new WorkspaceStore(paths);
  store.save(makeRecord({ name: "bench", status: "stopped" }));
  const workspaces = new WorkspaceService({
    paths, config, store, docker: new DockerEngine({ host: "unix:///nonexistent.sock", env: {} }),
    ssh: new SshPool({ privateKey: key.privateKey }), ports: new PortAllocator(config.ssh.port_range, () => []), events: new EventBus(),
    log: silentLogger, instance: "bench", clientKey: key, hostUser: { uid: 1000, gid: 1000, home: dir },
  });
  const trace = new OperationTrace({ log: new TraceLog(paths.trace) });
  const traced = tracedFacades({ workspaces }, trace).workspaces;
  const round = async (svc: WorkspaceService): Promise<number> => {
    const t0 = performance.now();
    await withSurface("rest", async () => {
      for (let i = 0; i < CALLS; i++) await svc.execCollect("bench", { command: "true", args: [] } as never).catch(() => {});
    });
    await trace.flush();
    return ((performance.now() - t0) * 1000) / CALLS;
  };
  const floor: number[] = [];
  const withTrace: number[] = [];
  for (let r = 0; r < 7; r++) {
    floor.push(await round(workspaces));
    withTrace.push(await round(traced));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const f = median(floor.slice(1));
  const t = median(withTrace.slice(1));
  console.log(`per call (median of 6 rounds of ${CALLS}):`);
  console.log(`  floor, untraced façade      ${f.toFixed(2)} µs`);
  console.log(`  traced (record + write)     ${t.toFixed(2)} µs`);
  console.log(`  cost of recording           ${(t - f).toFixed(2)} µs per operation`);
  console.log(`  history file                ${statSync(join(paths.trace, "operations.jsonl")).size} bytes (the last round's batch)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
