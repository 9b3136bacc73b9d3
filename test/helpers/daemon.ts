// The compiled daemon in the foreground with a TCP port, for the gRPC and WebSocket end-to-end tests.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { E2E_RUNTIME, NEXUS_BIN } from "./bin.ts";

export const BIN = NEXUS_BIN; // dist/nexus, or Deno with NEXUS_E2E_RUNTIME=deno

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A port p with p and p+1 free on 127.0.0.1. */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20000 + Math.floor(Math.random() * 20000);
    if ((await portFree(p)) && (await portFree(p + 1))) return p;
  }
  throw new Error("no free port pair");
}

export interface TestDaemon {
  home: string;
  port: number;
  token(): string;
  stop(): Promise<void>;
  alive(): boolean;
}

export async function startDaemon(home: string): Promise<TestDaemon> {
  const port = await freePortPair();
  const child: ChildProcess = spawn(BIN, ["daemon", "--port", String(port)], { env: { ...process.env, NEXUS_HOME: home }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (b) => (stderr += b));
  let exited = false;
  child.on("exit", () => (exited = true));
  // Under Deno the daemon loads its source first: 27 s to its socket on 2 cores at load average 30.
  const deadline = Date.now() + (E2E_RUNTIME === "deno" ? 120_000 : 30_000);
  while (!(existsSync(join(home, "grpc.sock")) && existsSync(join(home, "daemon.sock")) && existsSync(join(home, "daemon.pid")))) {
    if (exited || Date.now() > deadline) throw new Error(`daemon did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    home,
    port,
    token: () => readFileSync(join(home, "token"), "utf8").trim(),
    alive: () => !exited,
    stop: async () => {
      if (exited) return;
      const gone = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
      if (!exited) child.kill("SIGKILL");
    },
  };
}
