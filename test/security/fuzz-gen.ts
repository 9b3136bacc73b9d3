// Seeded inputs for the security suite's fuzzers: every run prints its seed, and
// NEXUS_FUZZ_SEED=<seed> replays it exactly. Bounded: NEXUS_FUZZ_RUNS inputs per surface (default 2000).

export function fuzzSeed(surface: string): number {
  const fixed = process.env.NEXUS_FUZZ_SEED;
  const seed = fixed !== undefined && fixed !== "" ? Number(fixed) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  console.log(`fuzz ${surface}: seed ${seed} (replay with NEXUS_FUZZ_SEED=${seed})`);
  return seed;
}

export function fuzzRuns(): number {
  const n = Number(process.env.NEXUS_FUZZ_RUNS ?? 2000);
  return Number.isInteger(n) && n > 0 ? n : 2000;
}

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Gen {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  string(): string {
    return this.pick([
      () => "",
      () => "x".repeat(this.int(300)),
      () => "a\0b",
      () => "../../etc/passwd",
      () => "%2e%2e",
      () => "/etc",
      () => "\n\r\t",
      () => "ws-" + this.int(1e6).toString(16),
      () => "é漢字😀",
      () => "'; rm -rf / #",
      () => "$(id)",
      () => "x".repeat(200_000),
      () => String.fromCharCode(...Array.from({ length: this.int(40) }, () => this.int(0x2000))),
    ])();
  }
  number(): number {
    return this.pick([0, -1, 1, 1e308, -1e308, 2 ** 53, 0.5, 65536, 22, 80, 3600, 86_401, Number.MIN_VALUE]);
  }
  value(depth = 0): unknown {
    const k = this.int(depth > 2 ? 4 : 7);
    switch (k) {
      case 0:
        return this.string();
      case 1:
        return this.number();
      case 2:
        return this.pick([true, false, null]);
      case 3:
        return this.string();
      case 4:
        return Array.from({ length: this.int(4) }, () => this.value(depth + 1));
      default:
        return this.object(depth + 1);
    }
  }
  object(depth = 0): Record<string, unknown> {
    const keys = ["name", "path", "noWorktree", "image", "command", "args", "cwd", "env", "timeout", "agentSocket", "containerPort", "hostPort", "visibility", "resources", "ports", "branch", "fromBranch", "ttl", "idleTimeout", "blocking", "skipHooks", "tail", "follow", "detach", "includeHostKey", "__proto__", "constructor", this.string().slice(0, 20)];
    const o: Record<string, unknown> = {};
    for (let i = this.int(5); i > 0; i--) o[this.pick(keys)] = this.value(depth);
    return o;
  }
  /** A request body: JSON (often an object), or bytes that are not JSON at all. */
  body(): string {
    return this.pick([
      () => JSON.stringify(this.object()),
      () => JSON.stringify(this.value()),
      () => "{",
      () => "\u0000\u0001",
      () => '{"name":' + "[".repeat(5000),
      () => JSON.stringify(this.object()).slice(0, this.int(40)),
    ])();
  }
}
