import { Hono } from "hono";
import { CreateWorkspaceInput, ExecInput, ListWorkspacesInput, parseInput, PauseInput, RestartInput, ResumeInput, SshConfigInput, StartInput, StopInput, UpdateWorkspaceInput } from "../../../core/inputs.ts";
import type { BringUpOptions } from "../../../core/types.ts";
import type { WorkspaceService } from "../../../core/workspaces.ts";
import type { SessionService } from "../../../core/sessions/service.ts";
import { readJson } from "../errors.ts";
import { detachedExec } from "./sessions.ts";
import { isStreamedExec, readStreamedExec } from "../exec-input.ts";
import { ndjsonResponse, wantsStream } from "../ndjson.ts";

/** The spec's start options (skip_hooks, skip_services, blocking, timeout) as the core takes them. */
export function startOptions(input: StartInput): BringUpOptions & { agentSocket?: string } {
  return {
    ...(input.agentSocket ? { agentSocket: input.agentSocket } : {}),
    ...(input.skipHooks !== undefined ? { skipHooks: input.skipHooks } : {}),
    ...(input.skipServices !== undefined ? { skipServices: input.skipServices } : {}),
    ...(input.blocking !== undefined ? { blocking: input.blocking } : {}),
    ...(input.timeout !== undefined ? { timeoutSeconds: input.timeout } : {}),
  };
}

export function workspaceRoutes(service: WorkspaceService, sessions?: SessionService): Hono {
  const app = new Hono();

  app.get("/", (c) => {
    const filter = parseInput(ListWorkspacesInput, c.req.query(), "query");
    return c.json({ workspaces: service.list(filter) });
  });

  app.post("/", async (c) => {
    const input = parseInput(CreateWorkspaceInput, await readJson(c), "create request");
    if (wantsStream(c.req.header("accept"))) {
      return ndjsonResponse(async (send) => {
        const workspace = await service.create(input, (p) => send({ type: "progress", ...p }));
        return { status: 201, workspace };
      }, c.req.raw.signal);
    }
    return c.json(await service.create(input), 201);
  });

  app.get("/:id", (c) => c.json(service.get(c.req.param("id"))));

  app.get("/:id/status", async (c) => c.json(await service.status(c.req.param("id"))));

  app.delete("/:id", async (c) => {
    const force = ["true", "1", ""].includes(c.req.query("force") ?? "false");
    // Extension: keepCheckpoints leaves the workspace's checkpoints for `create --from-checkpoint`.
    const keepCheckpoints = ["true", "1", ""].includes(c.req.query("keepCheckpoints") ?? "false");
    await service.destroy(c.req.param("id"), { force, keepCheckpoints });
    return c.body(null, 204);
  });

  app.patch("/:id", async (c) => {
    const input = parseInput(UpdateWorkspaceInput, await readJson(c), "update request");
    return c.json(await service.update(c.req.param("id"), input));
  });

  app.post("/:id/start", async (c) => {
    const input = parseInput(StartInput, await readJson(c), "start request");
    const opts = startOptions(input);
    if (wantsStream(c.req.header("accept"))) {
      return ndjsonResponse(async (send) => ({ status: 202, workspace: await service.start(c.req.param("id"), opts, (p) => send({ type: "progress", ...p })) }), c.req.raw.signal);
    }
    return c.json(await service.start(c.req.param("id"), opts), 202);
  });

  app.get("/:id/ssh", (c) => c.json(service.sshInfo(c.req.param("id"))));

  app.post("/:id/ssh/config", async (c) => {
    const input = parseInput(SshConfigInput, await readJson(c), "ssh config request");
    const { configContent } = service.sshConfig(c.req.param("id"), input);
    return c.text(configContent);
  });

  app.post("/:id/ssh/rotate-keys", async (c) => c.json(await service.rotateKeys(c.req.param("id")), 202));

  app.post("/:id/stop", async (c) => {
    const input = parseInput(StopInput, await readJson(c), "stop request");
    return c.json(await service.stop(c.req.param("id"), { timeoutSeconds: input.timeout }));
  });

  app.post("/:id/restart", async (c) => {
    const input = parseInput(RestartInput, await readJson(c), "restart request");
    return c.json(await service.restart(c.req.param("id"), { timeoutSeconds: input.timeout, blocking: true, ...(input.agentSocket ? { agentSocket: input.agentSocket } : {}) }), 202);
  });

  app.post("/:id/pause", async (c) => {
    const input = parseInput(PauseInput, await readJson(c), "pause request");
    return c.json(await service.pause(c.req.param("id"), { timeoutSeconds: input.timeout }), 202);
  });

  app.post("/:id/resume", async (c) => {
    const input = parseInput(ResumeInput, await readJson(c), "resume request");
    return c.json(await service.resume(c.req.param("id"), { blocking: input.blocking, timeoutSeconds: input.timeout }));
  });

  app.post("/:id/switch", async (c) => c.json(await service.switch(c.req.param("id"))));

  app.get("/:id/url", async (c) => c.json(await service.url(c.req.param("id"))));

  app.post("/:id/exec", async (c) => {
    const id = c.req.param("id");
    // A streamed body carries stdin (and terminal sizes) while the answer streams out.
    const streamed = isStreamedExec(c.req.header("content-type")) ? await readStreamedExec(c.req.raw.body) : undefined;
    const input = parseInput(ExecInput, streamed ? streamed.request : await readJson(c), "exec request");
    if (input.detach) {
      streamed?.stop();
      return c.json(await detachedExec(sessions, id, input), 201);
    }
    if (wantsStream(c.req.header("accept"))) {
      // Output streams as it comes: base64 chunks so any bytes survive, then the exit code. While the
      // client is behind, send's promise pauses the command's output (back-pressure, ndjson.ts).
      return ndjsonResponse(async (send, signal) => {
        try {
          return await service.exec(id, input, {
            onStdout: (b) => send({ type: "stdout", data: b.toString("base64") }),
            onStderr: (b) => send({ type: "stderr", data: b.toString("base64") }),
            // A paused workspace was resumed first (as ssh does): say so before any output.
            onResumed: (r) => send({ type: "resumed", ...r }),
            signal,
            ...(streamed ? { stdin: streamed.stdin } : {}),
          });
        } finally {
          streamed?.stop();
        }
      }, c.req.raw.signal);
    }
    if (streamed) {
      try {
        return c.json(await service.execCollect(id, input, streamed.stdin));
      } finally {
        streamed.stop();
      }
    }
    return c.json(await service.execCollect(id, input));
  });

  return app;
}
