// The private engine of test/helpers/private-dockerd.ts, which tests restart instead of the machine's
// engine: it runs containers that publish ports on 127.0.0.1, restarts with them, and while it does
// so the machine's engine (its dockerd, docker0, a container of ours on it) is left exactly as it was;
// stop removes everything it made.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { DEFAULT_BASE_IMAGE } from "../../src/docker/engine.ts";
import { docker } from "../helpers/docker.ts";
import { PrivateDockerd, privateDockerdUnavailable } from "../helpers/private-dockerd.ts";
import { slowTests } from "../helpers/timeout.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const unavailable = privateDockerdUnavailable();
if (unavailable) console.warn(`private-dockerd.test: skipped: ${unavailable}`);

const LABEL = `dev.nexus.test.private-dockerd=${process.pid}`;

afterAll(() => {
  const ours = docker("ps", "-aq", "--filter", `label=${LABEL}`).split("\n").filter(Boolean);
  if (ours.length) docker("rm", "-f", ...ours);
});

function machineEngine(): { pid: string; docker0: string; info: string } {
  const link = spawnSync("ip", ["-o", "link", "show", "docker0"], { encoding: "utf8" });
  return {
    pid: engineProcesses().filter((p) => !isPrivate(p)).sort().join(" "),
    docker0: link.status === 0 ? link.stdout.split(":").slice(0, 2).join(":") : "none",
    info: docker("info", "--format", "{{.DockerRootDir}}"),
  };
}

/**
 * The pids of every running dockerd, read from /proc only (nothing is signalled): the machine's
 * engine is the same process before and after the private one restarts, which is what this proves.
 */
function engineProcesses(): string[] {
  return readdirSync("/proc").filter((p) => {
    if (!/^\d+$/.test(p)) return false;
    try {
      return readFileSync(`/proc/${p}/comm`, "utf8").trim() === "dockerd";
    } catch {
      return false; // gone meanwhile
    }
  });
}

function isPrivate(pid: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("/tmp/nxd.");
  } catch {
    return true; // gone meanwhile
  }
}

/** True when something accepts a TCP connection on 127.0.0.1:port (the engine's port proxy). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1", () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}

/** Processes whose command line names `dir`. */
function processesNaming(dir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(`${dir}/`)) out.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe("a private dockerd", () => {
  test.skipIf(unavailable !== undefined)(
    "runs and restarts containers of its own, and never touches the machine's engine",
    async () => {
      // A container of ours on the machine's engine: it must keep running, never restarted.
      const mine = docker("run", "-d", "--label", LABEL, DEFAULT_BASE_IMAGE, "sleep", "600");
      const startedAt = () => docker("inspect", "--format", "{{.State.Running}} {{.State.StartedAt}}", mine);
      const before = { engine: machineEngine(), mine: startedAt() };

      const engine = await PrivateDockerd.start({ images: [DEFAULT_BASE_IMAGE] });
      const dir = engine.dir;
      const port = 36000 + (process.pid % 2000);
      let bridge = "";
      try {
        bridge = /BRIDGE=(\S+)/.exec(readFileSync(`${dir}/bridge.env`, "utf8"))![1]!;
        expect(bridge).toMatch(/^nxbr\d+$/);
        expect(engine.docker("info", "--format", "{{.DockerRootDir}}")).toBe(`${dir}/data`);
        // Its own images only: what it was given.
        expect(engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}").split("\n")).toEqual([DEFAULT_BASE_IMAGE]);

        const server = engine.docker("run", "-d", "--restart", "unless-stopped", "--stop-timeout", "1", "-p", `127.0.0.1:${port}:7000`, DEFAULT_BASE_IMAGE, "sleep", "infinity");
        // The container runs in the private engine only.
        expect(docker("ps", "-aq", "--no-trunc").split("\n")).not.toContain(server);
        expect(engine.docker("inspect", "--format", "{{.HostConfig.RestartPolicy.Name}}", server)).toBe("unless-stopped");
        await until("the published port answers", () => accepts(port), Boolean, { timeoutMs: 10_000, intervalMs: 200 });

        await engine.restart();
        await until("the container runs again after the engine's restart", () => engine.docker("inspect", "--format", "{{.State.Running}}", server) === "true", Boolean, { timeoutMs: 60_000, intervalMs: 200 });
        expect(machineEngine()).toEqual(before.engine);
        expect(startedAt()).toBe(before.mine);
      } finally {
        await engine.stop();
      }

      // Gone, all of it.
      expect(existsSync(dir)).toBe(false);
      expect(spawnSync("ip", ["link", "show", bridge], { stdio: "ignore" }).status).not.toBe(0);
      expect(readFileSync("/proc/self/mounts", "utf8")).not.toContain(dir);
      expect(processesNaming(dir)).toEqual([]);
      expect(await accepts(port)).toBe(false);
      expect(machineEngine()).toEqual(before.engine);
      expect(startedAt()).toBe(before.mine);
    },
    240_000,
  );
});
