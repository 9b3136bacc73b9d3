// Session request shapes, parsed at every edge (REST, gRPC, WS, CLI) with the same schemas.
import * as v from "valibot";

const EnvMap = v.pipe(
  v.record(v.string(), v.string("env values must be strings")),
  v.check((env) => Object.keys(env).every((k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)), "env names must match [A-Za-z_][A-Za-z0-9_]*"),
);
const Cols = v.pipe(v.number("cols must be a number"), v.integer("cols must be a whole number"), v.minValue(20, "cols must be 20-1000"), v.maxValue(1000, "cols must be 20-1000"));
const Rows = v.pipe(v.number("rows must be a number"), v.integer("rows must be a whole number"), v.minValue(5, "rows must be 5-500"), v.maxValue(500, "rows must be 5-500"));
const Lines = v.pipe(v.number("tail must be a number"), v.integer("tail must be a whole number"), v.minValue(0, "tail must be 0 or more"), v.maxValue(100_000, "tail must be at most 100000"));
const SessionIdField = v.pipe(v.string("sessionId must be a string"), v.minLength(1, "sessionId must not be empty"));

/** POST /sessions: a command (argv) in a new session, or a login shell (no command): a console. */
export const CreateSessionInput = v.strictObject({
  workspace: v.pipe(v.string("workspace must be a string"), v.minLength(1, "workspace must not be empty")),
  command: v.optional(v.pipe(v.string("command must be a string"), v.minLength(1, "command must not be empty"))),
  args: v.optional(v.array(v.string("args must be strings")), []),
  cwd: v.optional(v.pipe(v.string(), v.minLength(1))),
  env: v.optional(EnvMap),
  cols: v.optional(Cols),
  rows: v.optional(Rows),
});
export type CreateSessionInput = v.InferOutput<typeof CreateSessionInput>;

export const ListSessionsQuery = v.object({
  workspace: v.optional(v.pipe(v.string(), v.minLength(1))),
});

export const SessionLogsQuery = v.object({
  follow: v.optional(v.picklist(["true", "false", "1", "0", ""], "follow must be true or false")),
  tail: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "tail must be a whole number"), v.transform(Number), v.maxValue(100_000, "tail must be at most 100000"))),
});

/** POST /sessions/{id}/attach (text form): the last `tail` lines, then live lines unless follow is false. */
export const AttachSessionInput = v.strictObject({
  tail: v.optional(Lines),
  follow: v.optional(v.boolean("follow must be a boolean")),
});

export const SendSessionInput = v.strictObject({
  text: v.string("text must be a string"),
  enter: v.optional(v.boolean("enter must be a boolean"), false),
});

/** WebSocket session.attach: a terminal client (input and resize follow as session.input / session.resize). */
export const WsAttachPayload = v.strictObject({
  sessionId: SessionIdField,
  cols: v.optional(Cols, 80),
  rows: v.optional(Rows, 24),
  readOnly: v.optional(v.boolean(), false),
  scrollback: v.optional(Lines),
  term: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._+-]{1,64}$/, "term must be a terminal name such as xterm-256color"))),
});

export const WsInputPayload = v.strictObject({
  sessionId: SessionIdField,
  data: v.string("data must be a string"),
  encoding: v.optional(v.picklist(["utf8", "base64"], "encoding must be utf8 or base64"), "utf8"),
});

export const WsResizePayload = v.strictObject({ sessionId: SessionIdField, cols: Cols, rows: Rows });

export const WsDetachPayload = v.strictObject({ sessionId: SessionIdField });
