import { Hono } from "hono";
import type { BuildInfo } from "../../../version.ts";

export interface DaemonControl {
  shutdown(): void;
  pid: number;
  startedAt: string;
}

export function systemRoutes(build: BuildInfo, daemon: DaemonControl): Hono {
  const app = new Hono();
  app.get("/version", (c) => c.json({ ...build, pid: daemon.pid, startedAt: daemon.startedAt }));
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.post("/daemon/shutdown", (c) => {
    // Answer first, then stop: the caller waits for the socket to go away.
    setTimeout(() => daemon.shutdown(), 10);
    return c.json({ status: "stopping" }, 202);
  });
  return app;
}
