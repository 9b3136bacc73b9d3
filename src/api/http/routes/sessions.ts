import { Hono } from "hono";
import { NexusError } from "../../../core/errors.ts";
import { parseInput } from "../../../core/inputs.ts";
import { AttachSessionInput, CreateSessionInput, ListSessionsQuery, SendSessionInput, SessionLogsQuery } from "../../../core/sessions/inputs.ts";
import type { SessionService } from "../../../core/sessions/service.ts";
import { readJson } from "../errors.ts";
import { ndjsonResponse, wantsStream } from "../ndjson.ts";
import { Acks } from "../../../kernel/ack.ts";

/** Lines of scrollback the text attach starts with, unless asked otherwise. */
const ATTACH_TAIL = 1000;

/**
 * Sessions (spec §3.1 "Sessions": list, attach, kill). Extensions: POST /sessions (start one),
 * GET /sessions/{id}, GET /sessions/{id}/logs, POST /sessions/{id}/input. The interactive attach
 * (input, resize) is the WebSocket's session.attach.
 */
export function sessionRoutes(sessions: SessionService): Hono {
  const app = new Hono();

  app.get("/", async (c) => {
    const q = parseInput(ListSessionsQuery, c.req.query(), "sessions query");
    return c.json({ sessions: await sessions.list(q.workspace) });
  });

  app.post("/", async (c) => {
    const input = parseInput(CreateSessionInput, await readJson(c), "session request");
    const view = await sessions.create({
      workspace: input.workspace,
      kind: input.command ? "command" : "console",
      argv: input.command ? [input.command, ...input.args] : [],
      ...(input.cwd ? { cwd: input.cwd } : {}),
      ...(input.env ? { env: input.env } : {}),
      ...(input.cols ? { cols: input.cols } : {}),
      ...(input.rows ? { rows: input.rows } : {}),
    });
    return c.json(view, 201);
  });

  app.get("/:id", async (c) => c.json(await sessions.get(c.req.param("id"))));

  // The last lines as JSON; with follow (or Accept: application/x-ndjson), then each new line as it comes.
  app.get("/:id/logs", async (c) => {
    const q = parseInput(SessionLogsQuery, c.req.query(), "logs query");
    const follow = q.follow !== undefined && ["true", "1", ""].includes(q.follow);
    const tail = q.tail ?? 100;
    const id = c.req.param("id");
    if (follow || wantsStream(c.req.header("accept"))) {
      await sessions.get(id); // an unknown id answers 404, not a stream that fails
      return ndjsonResponse(async (send, signal) => {
        if (!follow) {
          const logs = await sessions.logs(id, tail);
          for (const line of logs.lines) send({ type: "line", line });
          return { sessionId: id, status: logs.status, exitCode: logs.exitCode };
        }
        // The client behind (send's promise) holds the next look at the session (back-pressure).
        const onDropped = (bytes: number) => send({ type: "dropped", bytes });
        const end = await sessions.follow(id, { tail, signal, onDropped }, (lines) => {
          const acks = new Acks();
          for (const line of lines) acks.add(send({ type: "line", line }));
          return acks.ack();
        });
        return end;
      }, c.req.raw.signal);
    }
    return c.json(await sessions.logs(id, tail));
  });

  // Spec: attach. The text form: the last `tail` lines of scrollback, then live output, then the exit code.
  app.post("/:id/attach", async (c) => {
    const input = parseInput(AttachSessionInput, await readJson(c), "attach request");
    const id = c.req.param("id");
    await sessions.get(id);
    return ndjsonResponse(async (send, signal) => {
      const tail = input.tail ?? ATTACH_TAIL;
      if (input.follow === false) {
        const logs = await sessions.logs(id, tail);
        if (logs.lines.length) send({ type: "output", data: logs.lines.join("\n") + "\n" });
        return { sessionId: id, reason: logs.status === "exited" ? "exited" : "detached", exitCode: logs.exitCode };
      }
      const onDropped = (bytes: number) => send({ type: "dropped", bytes });
      return sessions.follow(id, { tail, signal, onDropped }, (lines) => send({ type: "output", data: lines.join("\n") + "\n" }));
    }, c.req.raw.signal);
  });

  app.post("/:id/input", async (c) => {
    const input = parseInput(SendSessionInput, await readJson(c), "input request");
    return c.json(await sessions.send(c.req.param("id"), input.text, input.enter));
  });

  app.delete("/:id", async (c) => {
    await sessions.kill(c.req.param("id"));
    return c.body(null, 204);
  });

  return app;
}

/** exec with detach: the command starts in a new session and the answer is the session. */
export function detachedExec(sessions: SessionService | undefined, workspace: string, input: { command: string; args: string[]; cwd?: string | undefined; env?: Record<string, string> | undefined }) {
  if (!sessions) throw new NexusError("UNIMPLEMENTED", "Detached exec needs sessions, which this server does not serve", { suggestion: "Run the command without detach" });
  return sessions.create({
    workspace,
    kind: "command",
    argv: [input.command, ...input.args],
    ...(input.cwd ? { cwd: input.cwd } : {}),
    ...(input.env ? { env: input.env } : {}),
  });
}
