// The daemon's memory: resident set size idle, with 20 workspaces running, and after the 20 are
// destroyed. Targets (issue 17): ≤ 120 MB with 20 running; back within 10% of idle after they go.
//
//   npm run build && bun bench/memory.ts
//   BENCH_WORKSPACES=N   how many workspaces (default 20)
//   BENCH_ROUNDS=N       rounds of create N + destroy N (default 3): a leak grows with every round
//   NEXUS_BIN=path       the binary to measure (default dist/nexus)
//   BENCH_SMAPS=1        also the daemon's anonymous memory by region (/proc/<pid>/smaps) idle and after each
//                        round: V8's heap pages (Deno), malloc's [heap], the rest
//   NEXUS_RUNTIME=deno   the daemon under Deno instead: the CLI runs from source under Deno
//                        (node_modules/.bin/deno run -A src/main.ts, as test/helpers/nexus-deno does)
//                        and starts its daemon the same way (runtime/deno.ts selfCommand); NEXUS_BIN
//                        is not used then: `NEXUS_RUNTIME=deno bun bench/memory.ts`.
//
// Needs dist/nexus (Bun) or node_modules/.bin/deno (Deno), and a Docker engine. Everything it makes
// (NEXUS_HOME, git repository, workspaces, daemon) is temporary and removed at the end, even on
// failure; nothing else on the engine is touched.
// RSS is read from /proc/<daemon pid>/status (VmRSS), the figure `ps` and `top` show; it does not
// depend on how loaded the machine is, so one run is enough. Beside it: the daemon's JS heap after its
// own full collection (NEXUS_DEBUG_HEAP, written by the daemon after each burst of destroys; a binary
// without it prints "-"), and its JIT code (the one rwx mapping in /proc/<pid>/smaps). RSS that grows
// while the JS heap and its object counts stay flat is held by the allocator or the JIT, not by us.
// Under Deno the heap figure is V8's heapUsed and no object counts, garbage included: V8 offers no
// forced collection without --expose-gc, which the daemon is not started with (DENO_V8_FLAGS=--expose-gc
// gives it, so the daemon's release after destroys collects as under Bun). No JIT column there (V8's
// code pages are not one rwx mapping).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const RUNTIME: "bun" | "deno" = process.env.NEXUS_RUNTIME === "deno" ? "deno" : "bun";
/** The program and its leading arguments: the compiled binary, or the source under Deno. */
const [NEXUS, NEXUS_ARGS]: [string, string[]] =
  RUNTIME === "deno" ? [join(ROOT, "node_modules", ".bin", "deno"), ["run", "-A", "--quiet", join(ROOT, "src", "main.ts")]] : [process.env.NEXUS_BIN || join(ROOT, "dist", "nexus"), []];
const COUNT = Number(process.env.BENCH_WORKSPACES || 20);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS || 3));
const PARALLEL = 4;
const TARGET_RUNNING_MB = 120;
const TARGET_AFTER = 1.1;

const home = mkdtempSync(join(tmpdir(), "nexus-bench-mem-"));
const repo = join(home, "repo");
const heapLog = join(home, "heap.jsonl");
const env = { ...process.env, NEXUS_HOME: join(home, "nexus"), NO_COLOR: "1", NEXUS_DEBUG_HEAP: heapLog };

function nexus(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(NEXUS, [...NEXUS_ARGS, ...args], { cwd: repo, env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`nexus ${args.join(" ")}: exit ${code}\n${err}`))));
  });
}

/** VmRSS and its two parts (kB lines of /proc/<pid>/status), in MB. */
function memMb(pid: number): { rss: number; anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => {
    const m = status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
    if (!m) throw new Error(`no ${key} for pid ${pid}`);
    return Number(m[1]) / 1024;
  };
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") };
}

/** Resident JIT code: the anonymous rwx mapping JavaScriptCore's executable allocator reserves. */
function jitMb(pid: number): number {
  let kb = 0;
  let exec = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/);
    if (head) exec = head[1] === "rwxp" && head[2] === "";
    else if (exec && line.startsWith("Rss:")) kb += Number(line.split(/\s+/)[1]);
  }
  return kb / 1024;
}

/**
 * The daemon's anonymous resident memory by region, MB: V8's heap pages (Deno: V8 maps its heap 256 KB
 * page by page, so those mappings are its heap, garbage and spare pages included), malloc's [heap]
 * (brk), and the rest (allocator arenas, stacks, JavaScriptCore's heap under Bun).
 */
function anonRegions(pid: number): string {
  let pages = 0;
  let pageCount = 0;
  let brk = 0;
  let other = 0;
  let cur: "page" | "brk" | "other" | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = line.match(/^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      const name = head[3] ?? "";
      const size = parseInt(head[2]!, 16) - parseInt(head[1]!, 16);
      cur = name === "[heap]" ? "brk" : name === "" ? (size === 256 * 1024 ? "page" : "other") : undefined;
      if (cur === "page") pageCount++;
    } else if (cur && line.startsWith("Rss:")) {
      const mb = Number(line.split(/\s+/)[1]) / 1024;
      if (cur === "page") pages += mb;
      else if (cur === "brk") brk += mb;
      else other += mb;
    }
  }
  return `256 KB pages ${pages.toFixed(1)} (${pageCount}), [heap] ${brk.toFixed(1)}, other anon ${other.toFixed(1)}`;
}

interface Heap {
  /**
   * Live JS objects (heapSize minus extraMemorySize), MB. What the collector charges them for outside
   * the heap is left out: it counts strings that point into the binary and the 16 MB of ssh2's
   * poly1305 WebAssembly memory, which is mostly never touched, so it says little about RSS.
   */
  objects: number;
  counts: Record<string, number>;
  /** Deno: V8's heapUsed (garbage included: no forced collection there), and no counts. */
  v8?: boolean;
  /** Deno: memory of ArrayBuffers and other objects outside V8's heap (process.memoryUsage().external), MB. */
  external?: number;
}

/** The daemon's last heap report (NEXUS_DEBUG_HEAP), or undefined when this binary writes none. */
function lastHeap(): Heap | undefined {
  let text = "";
  try {
    text = readFileSync(heapLog, "utf8").trim();
  } catch {
    return undefined;
  }
  const last = text.split("\n").pop();
  if (!last) return undefined;
  const { counts, heapUsed, external } = JSON.parse(last) as { counts: Record<string, number>; heapUsed?: number; external?: number };
  if (RUNTIME === "deno" && heapUsed !== undefined) return { objects: heapUsed / 2 ** 20, external: (external ?? 0) / 2 ** 20, counts: {}, v8: true };
  if (counts.heapSize === undefined) return undefined;
  return { objects: (counts.heapSize - (counts.extraMemorySize ?? 0)) / 2 ** 20, counts };
}

type Mem = ReturnType<typeof memMb> & { jit?: number; heap?: Heap; maps?: string };
const SMAPS = process.env.BENCH_SMAPS === "1";

/** The lowest RSS seen over `ms` (sampled every 200 ms): what the daemon settles to, not a passing peak. */
async function settled(pid: number, ms: number): Promise<Mem> {
  let low = memMb(pid);
  for (const end = Date.now() + ms; Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 200));
    const now = memMb(pid);
    if (now.rss < low.rss) low = now;
  }
  return low;
}

async function inBatches(names: string[], op: (n: string) => Promise<void>): Promise<void> {
  for (let i = 0; i < names.length; i += PARALLEL) await Promise.all(names.slice(i, i + PARALLEL).map(op));
}

const names = Array.from({ length: COUNT }, (_, i) => `mem${i + 1}`);
let pid = 0;
try {
  spawnSync("git", ["init", "-q", "-b", "main", repo]);
  spawnSync("git", ["-C", repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "init"]);
  await nexus(["list"]); // starts the daemon
  pid = Number(readFileSync(join(env.NEXUS_HOME, "daemon.pid"), "utf8").trim());
  // One workspace made and destroyed first: the image is resolved and the daemon's code paths are warm,
  // so "idle" is the daemon as it is after use, not before its first request.
  await nexus(["create", "warm"]);
  await nexus(["destroy", "warm", "--force"]);
  const jit = (p: number) => (RUNTIME === "deno" ? undefined : jitMb(p));
  const maps = (p: number) => (SMAPS ? { maps: anonRegions(p) } : {});
  const idle: Mem = { ...(await settled(pid, 3000)), jit: jit(pid), heap: lastHeap(), ...maps(pid) };
  const rounds: Array<{ running: Mem; after: Mem }> = [];
  // Round 1 is the target's figure; rounds 2.. tell a leak (memory that grows again with each round,
  // held per workspace) from the allocator's high-water mark (which the first round reaches).
  for (let round = 1; round <= ROUNDS; round++) {
    await inBatches(names, (n) => nexus(["create", n]));
    const running = await settled(pid, 3000);
    await inBatches(names, (n) => nexus(["destroy", n, "--force"]));
    rounds.push({ running, after: { ...(await settled(pid, 5000)), jit: jit(pid), heap: lastHeap(), ...maps(pid) } });
  }
  const docker = spawnSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" }).stdout.trim();
  const h = (m: Mem) =>
    m.heap?.v8
      ? `   js heap (V8 heapUsed) ${m.heap.objects.toFixed(1)}, external ${(m.heap.external ?? 0).toFixed(1)}`
      : m.jit === undefined
        ? ""
        : `   jit ${m.jit.toFixed(1)}; js heap ${m.heap ? `${m.heap.objects.toFixed(1)} (${m.heap.counts.objectCount} objects)` : "-"}`;
  const f = (m: Mem) => `${m.rss.toFixed(1).padStart(6)} MB (anon ${m.anon.toFixed(1).padStart(5)}, file ${m.file.toFixed(1).padStart(5)})${h(m)}`;
  console.log(`machine         ${cpus().length} cores, ${cpus()[0]?.model ?? "?"}, ${process.platform} ${release()}, docker ${docker}`);
  const deno = RUNTIME === "deno" ? spawnSync(NEXUS, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0] : "";
  console.log(RUNTIME === "deno" ? `runtime         ${deno}: ${[NEXUS, ...NEXUS_ARGS].join(" ")}` : `binary          ${NEXUS}`);
  console.log(`daemon RSS      (anon: the daemon's own memory, of it jit: JIT code; file: pages of the binary it has touched;`);
  console.log(`                js heap: the live objects after the daemon's full GC, MB)`);
  console.log(`idle                         ${f(idle)}`);
  for (const [i, r] of rounds.entries()) {
    console.log(`round ${i + 1}: ${String(COUNT).padStart(2)} running          ${f(r.running)}`);
    console.log(`round ${i + 1}: ${String(COUNT).padStart(2)} destroyed        ${f(r.after)}   ${(r.after.rss / idle.rss).toFixed(3)}× idle`);
  }
  const first = rounds[0]!;
  const last = rounds[rounds.length - 1]!;
  const maxRunning = Math.max(...rounds.map((r) => r.running.rss));
  console.log(`with ${COUNT} running: ${maxRunning.toFixed(1)} MB at most (target ≤ ${TARGET_RUNNING_MB} MB) ${maxRunning <= TARGET_RUNNING_MB ? "ok" : "MISS"}`);
  console.log(`after / idle:   round 1 ${(first.after.rss / idle.rss).toFixed(3)}, round ${rounds.length} ${(last.after.rss / idle.rss).toFixed(3)} (target ≤ ${TARGET_AFTER}) ${Math.max(...rounds.map((r) => r.after.rss / idle.rss)) <= TARGET_AFTER ? "ok" : "MISS"}`);
  if (SMAPS) {
    console.log(`anonymous memory by region, MB: idle: ${idle.maps}`);
    for (const [i, r] of rounds.entries()) console.log(`  after round ${i + 1}: ${r.after.maps}`);
  }
  if (rounds.length > 1) {
    const perWs = ((last.after.anon - first.after.anon) * 1024) / ((rounds.length - 1) * COUNT);
    console.log(`held per workspace after round 1 (anon): ${perWs.toFixed(0)} kB`);
  }
  // Which kinds of JS object grew from round 1 to the last: a per-workspace leak shows here as a count
  // that grows by about COUNT (or a multiple) per round.
  if (first.after.heap && last.after.heap && !last.after.heap.v8 && rounds.length > 1) {
    const a = first.after.heap.counts;
    const b = last.after.heap.counts;
    const grown = Object.keys(b)
      .filter((k) => !/Size$|Capacity$|Commit$|Count$/.test(k))
      .map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)] as const)
      .filter(([, d]) => d > 0)
      .sort((x, y) => y[1] - x[1])
      .slice(0, 6);
    console.log(`js objects, round 1 -> ${rounds.length}: ${grown.length ? grown.map(([k, d]) => `${k} +${d}`).join(", ") : "none grew"}`);
  }
} finally {
  for (const n of [...names, "warm"]) spawnSync(NEXUS, [...NEXUS_ARGS, "destroy", n, "--force"], { cwd: repo, env, stdio: "ignore" });
  spawnSync(NEXUS, [...NEXUS_ARGS, "daemon", "stop"], { cwd: repo, env, stdio: "ignore" });
  rmSync(home, { recursive: true, force: true });
}
