// `nexus proxy` and `nexus ports` as a user runs them: the compiled binary, a temporary NEXUS_HOME.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { canBind } from "../../src/core/ports.ts";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, tearDown } from "../helpers/cli.ts";

slowTests();

const root = tempDir("e2e-proxy");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"), { "README.md": "# fixture\n", "hello.txt": "hello through the proxy\n" });

const nexus = nexusRunner({ home, cwd: repo });

const fetchText = async (port: number) => (await fetch(`http://127.0.0.1:${port}/hello.txt`, { signal: AbortSignal.timeout(10_000) })).text();

interface Proxy {
  forward: { id: string; hostPort: number; containerPort: number; temporary?: boolean };
  /** stderr once it holds `text` (the two pipes arrive in any order). */
  stderrWith(text: string): Promise<string>;
  interrupt(): Promise<number>;
}

const running = new Set<() => Promise<number>>();

/** Starts `nexus proxy ... --json` and waits for the forward on its stdout. */
async function startProxy(args: string[]): Promise<Proxy> {
  const p = nexus.start(["proxy", ...args, "--json"]);
  const { child, out, exit: exited } = p;
  let done: number | undefined;
  void exited.then((code) => (done = code));
  // The first line, or the proxy's end without one.
  const firstLine = await until("the forward on the proxy's stdout", () => out.stdout, (o) => o.includes("\n") || done !== undefined, { timeoutMs: 30_000, detail: () => out.stderr });
  if (!firstLine.includes("\n")) throw new Error(`proxy exited (${done}): ${out.stderr}`);
  const line = firstLine.slice(0, firstLine.indexOf("\n"));
  const interrupt = async () => {
    running.delete(interrupt);
    if (child.exitCode === null) child.kill("SIGINT");
    return exited;
  };
  running.add(interrupt);
  return {
    forward: JSON.parse(line),
    stderrWith: async (text) => {
      return until(`the proxy says '${text}'`, () => out.stderr, (e) => e.includes(text), 30_000).catch(() => out.stderr);
    },
    interrupt,
  };
}

async function forwardIds(): Promise<string[]> {
  const r = nexus(["ports", "px", "--json"]);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout).ports as Array<{ id: string; kind: string }>).filter((p) => p.kind === "forward").map((p) => p.id);
}

beforeAll(() => {
  requireE2E();
  expect(nexus(["create", "px", "-p", "8000"]).code).toBe(0);
  const started = nexus(["exec", "px", "--", "sh", "-c", "setsid -f sh -c 'cd /workspace && exec python3 -m http.server 8000 --bind 127.0.0.1' >/dev/null 2>&1; for i in $(seq 50); do grep -q ':1F40 .* 0A ' /proc/net/tcp && exit 0; sleep 0.1; done; exit 1"]);
  expect(started.code).toBe(0);
}, 600_000);

afterAll(async () => {
  await Promise.all([...running].map((stop) => stop()));
  await tearDown(nexus, root);
});

describe("nexus proxy", () => {
  test("<port> forwards until Ctrl-C, then the forward and its port are gone", async () => {
    const p = await startProxy(["px", "8000"]);
    expect(p.forward).toMatchObject({ containerPort: 8000, temporary: true });
    const line = `Forwarding http://localhost:${p.forward.hostPort} -> px:8000 (Ctrl-C to stop)`;
    expect(await p.stderrWith(line)).toContain(line);
    expect(await fetchText(p.forward.hostPort)).toBe("hello through the proxy\n");
    expect(await forwardIds()).toEqual([p.forward.id]);

    expect(await p.interrupt()).toBe(0);
    expect(await until("the forward is removed", forwardIds, (ids) => ids.length === 0, 30_000)).toEqual([]);
    expect(await canBind(p.forward.hostPort)).toBe(true);
  }, 60_000);

  test("<local>:<remote> listens on the local port asked for", async () => {
    let local = 18000;
    while (!(await canBind(local))) local++;
    const p = await startProxy(["px", `${local}:8000`]);
    expect(p.forward.hostPort).toBe(local);
    expect(await fetchText(local)).toBe("hello through the proxy\n");
    expect(await p.interrupt()).toBe(0);
  }, 60_000);

  test("a bad port is a usage error; an unknown workspace is not found", () => {
    const bad = nexus(["proxy", "px", "http", "--json"]);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error.code).toBe("INVALID_ARGUMENT");
    const ghost = nexus(["proxy", "ghost", "8000"]);
    expect(ghost.code).toBe(4);
    expect(ghost.stderr).toContain("WORKSPACE_NOT_FOUND");
  });
});

describe("nexus ports", () => {
  test("add, list (with the loopback hint for published ports), public, rm", async () => {
    const added = nexus(["ports", "add", "px", "8000", "--json"]);
    expect(added.code).toBe(0);
    const f = JSON.parse(added.stdout) as { id: string; hostPort: number; created: boolean };
    expect(f.created).toBe(true);
    expect(await fetchText(f.hostPort)).toBe("hello through the proxy\n");

    const table = nexus(["ports", "px"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+PORT\s+HOST/);
    expect(table.stdout).toContain(`127.0.0.1:${f.hostPort}`);
    expect(table.stdout).toMatch(/published-8000 .*loopback.*bind it to 0\.0\.0\.0/);

    const pub = nexus(["ports", "public", "px", "8000"]);
    expect(pub.code).toBe(0);
    expect(pub.stdout).toContain("PUBLIC");
    expect(pub.stdout).toContain("other machines");
    expect(nexus(["ports", "px"]).stdout).toContain(`0.0.0.0:${f.hostPort}`);

    const rm = nexus(["ports", "rm", "px", f.id]);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toContain(`Removed forward ${f.id}`);
    expect(await forwardIds()).toEqual([]);
    expect(nexus(["ports", "rm", "px", f.id]).code).toBe(4);
  });
});
