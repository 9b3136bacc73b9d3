// gRPC fuzzer (bounded, seeded), against the compiled daemon: malformed protobuf frames, fields of the
// wrong wire type, huge fields, unknown methods, typed requests with hostile values; over TCP with
// missing, forged, `alg: none` and malformed tokens. Every call ends with a proper status (never
// UNKNOWN, never an INTERNAL that is an unexpected error, never a JavaScript error's text), the
// daemon never dies, and nothing is made on the way.
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as grpc from "@grpc/grpc-js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES } from "../../src/core/errors.ts";
import { workspaceServiceDefinition } from "../../src/api/grpc/server.ts";
import { BIN, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { removeLeftovers } from "../helpers/docker.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { fuzzRuns, fuzzSeed, Gen, rng } from "./fuzz-gen.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const root = tempDir("sec-fuzz-grpc");
const home = join(root.path, "nexus");
const definition = workspaceServiceDefinition();
const METHODS = Object.keys(definition);
let daemon: TestDaemon;
let unix: grpc.Client;
let tcp: grpc.Client;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run 'npm run build'`);
  daemon = await startDaemon(home);
  unix = new grpc.Client(`unix://${join(home, "grpc.sock")}`, grpc.credentials.createInsecure());
  tcp = new grpc.Client(`127.0.0.1:${daemon.port + 1}`, grpc.credentials.createInsecure());
}, 120_000);

afterAll(async () => {
  unix?.close();
  tcp?.close();
  await daemon?.stop();
  removeLeftovers(home);
  await root[Symbol.asyncDispose]();
});

const b64url = (s: string) => Buffer.from(s).toString("base64url");

/** A varint as protobuf writes it. */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(Math.max(0, Math.floor(n)));
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

/** Bytes that look like protobuf: random fields, wire types that do not match the schema, lengths that lie, varints that never end. */
function protobufish(g: Gen): Buffer {
  const parts: number[] = [];
  for (let i = g.int(6); i >= 0; i--) {
    const field = g.pick([1, 2, 3, 4, 5, 6, 7, 8, 10, 15, 16, 100, 110, 536870911]);
    const wire = g.pick([0, 1, 2, 3, 4, 5, 6, 7]);
    parts.push(...varint(field * 8 + wire));
    if (wire === 0) parts.push(...g.pick([varint(g.int(1e9)), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0x80]]));
    else if (wire === 1) parts.push(...Array.from({ length: g.pick([8, 3]) }, () => g.int(256)));
    else if (wire === 5) parts.push(...Array.from({ length: g.pick([4, 1]) }, () => g.int(256)));
    else if (wire === 2) {
      const content = Buffer.from(g.string().slice(0, 2000));
      parts.push(...varint(g.pick([content.length, content.length + 50, 2 ** 31, 0])), ...content);
    }
  }
  return Buffer.from(parts);
}

/** A request the method's own type serialises, with hostile values; random bytes when the values do not fit its types. */
function typed(g: Gen, method: string): Buffer {
  const obj: Record<string, unknown> = { ...g.object() };
  for (const k of ["workspaceId", "name", "path", "sessionId", "checkpointId", "serviceName", "hook", "command", "status", "labelSelector", "backend"]) {
    if (g.int(3) === 0) obj[k] = g.int(2) ? g.string() : g.value();
  }
  if (g.int(10) === 0) obj.workspaceId = "x".repeat(g.pick([3, 5]) * 1024 * 1024); // huge field: near and past the 4 MiB message limit
  // Never a repository the daemon could make a workspace from.
  delete obj.repositoryPath;
  delete obj.repositoryUrl;
  try {
    return definition[method]!.requestSerialize(obj) as Buffer;
  } catch {
    return protobufish(g);
  }
}

function metadataFor(g: Gen, overTcp: boolean): grpc.Metadata {
  const md = new grpc.Metadata();
  if (!overTcp || g.int(5) === 0) return md;
  const none = `${b64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${b64url(JSON.stringify({ sub: "nexus", exp: 4102444800 }))}.`;
  const forged = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify({ sub: "nexus", exp: 4102444800 }))}.${b64url("not-the-signature")}`;
  const expired = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify({ sub: "nexus", exp: 1 }))}.${b64url("x")}`;
  md.set("authorization", g.pick([`Bearer ${none}`, `Bearer ${forged}`, `Bearer ${expired}`, "Bearer ", "Basic bmV4dXM6bmV4dXM=", `Bearer ${daemon.token()}x`, `bearer ${"a".repeat(4000)}`, "Bearer a.b.c", g.string().replace(/[^\x20-\x7e]/g, "").slice(0, 200) || "x"]));
  return md;
}

interface Outcome {
  code: grpc.status;
  details: string;
  nexusCode: string | undefined;
}

function outcome(err: grpc.ServiceError | null | undefined): Outcome {
  if (!err) return { code: grpc.status.OK, details: "", nexusCode: undefined };
  return { code: err.code, details: err.details ?? "", nexusCode: err.metadata?.get("nexus-error-code")[0]?.toString() };
}

const identity = (b: Buffer) => b;

function call(client: grpc.Client, path: string, kind: "unary" | "server" | "client", body: Buffer, md: grpc.Metadata): Promise<Outcome> {
  const options = { deadline: Date.now() + 5_000 };
  return new Promise((resolve) => {
    if (kind === "unary") {
      client.makeUnaryRequest(path, identity, identity, body, md, options, (err) => resolve(outcome(err)));
    } else if (kind === "client") {
      const s = client.makeClientStreamRequest(path, identity, identity, md, options, (err) => resolve(outcome(err)));
      s.write(body);
      s.end();
    } else {
      const s = client.makeServerStreamRequest(path, identity, identity, body, md, options);
      s.on("data", () => {});
      s.on("error", (err: grpc.ServiceError) => resolve(outcome(err)));
      s.on("end", () => resolve(outcome(null)));
    }
  });
}

test("random gRPC calls end with proper statuses, and the daemon keeps serving", async () => {
  const g = new Gen(rng(fuzzSeed("grpc")));
  const runs = fuzzRuns();
  const codes = new Set(Object.keys(ERROR_CODES));
  const seen = new Map<string, number>();
  const BATCH = 16;
  for (let i = 0; i < runs; i += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, runs - i) }, async (_, j) => {
        const n = i + j;
        const known = g.int(8) !== 0;
        const method = known ? g.pick(METHODS) : undefined;
        const path = method ? definition[method]!.path : g.pick(["/nexus.workspace.v1.WorkspaceService/NoSuchMethod", "/nexus.workspace.v1.WorkspaceService/", "/x/y", "/grpc.health.v1.Health/Check", "/nexus.workspace.v1.WorkspaceService/getWorkspace"]);
        const kind = method ? (definition[method]!.requestStream ? "client" : definition[method]!.responseStream ? "server" : "unary") : g.pick(["unary", "server", "client"] as const);
        const shape = g.int(4);
        const body = shape === 0 ? Buffer.from(Array.from({ length: g.int(200) }, () => g.int(256))) : shape === 1 || !method ? protobufish(g) : typed(g, method);
        const overTcp = g.int(4) === 0;
        const md = metadataFor(g, overTcp);
        const r = await call(overTcp ? tcp : unix, path, kind, body, md);
        const what = `#${n} ${overTcp ? "tcp" : "unix"} ${path} ${body.length} bytes ${body.subarray(0, 60).toString("hex")}`;
        seen.set(grpc.status[r.code]!, (seen.get(grpc.status[r.code]!) ?? 0) + 1);
        if (r.code === grpc.status.UNKNOWN) throw new Error(`${what}: UNKNOWN ${r.details}`);
        if (r.code === grpc.status.UNAVAILABLE && r.nexusCode === undefined) throw new Error(`${what}: UNAVAILABLE without a Nexus code (the daemon gone?) ${r.details}`);
        if (r.code === grpc.status.INTERNAL && (r.nexusCode === undefined || r.nexusCode === "INTERNAL_ERROR")) throw new Error(`${what}: INTERNAL ${r.nexusCode} ${r.details.slice(0, 300)}`);
        if (r.nexusCode !== undefined && !codes.has(r.nexusCode)) throw new Error(`${what}: unknown code ${r.nexusCode}`);
        if (/is not a function|Cannot read propert|undefined is not|TypeError|RangeError/.test(r.details)) throw new Error(`${what}: a JavaScript error leaks: ${r.details.slice(0, 300)}`);
        // Over TCP nothing is served without the token: a known method is refused before it runs.
        if (overTcp && method && r.code !== grpc.status.UNAUTHENTICATED && r.code !== grpc.status.RESOURCE_EXHAUSTED && r.code !== grpc.status.DEADLINE_EXCEEDED) {
          throw new Error(`${what}: served over TCP without a valid token (${grpc.status[r.code]} ${r.details.slice(0, 200)})`);
        }
        if (!method && r.code !== grpc.status.UNIMPLEMENTED && r.code !== grpc.status.UNAUTHENTICATED) throw new Error(`${what}: unknown method answered ${grpc.status[r.code]}`);
      }),
    );
  }
  console.log(`fuzz grpc: ${runs} calls -> ${JSON.stringify(Object.fromEntries(seen))}`);
  expect(daemon.alive()).toBe(true);
  // Still serving, and nothing was made.
  const list = await new Promise<{ workspaces: unknown[] }>((resolve, reject) => {
    const c = new (grpc.makeGenericClientConstructor(definition, "WorkspaceService"))(`unix://${join(home, "grpc.sock")}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
    c.ListWorkspaces({}, (err: Error | null, res: { workspaces: unknown[] }) => (c.close(), err ? reject(err) : resolve(res)));
  });
  expect(list.workspaces).toEqual([]);
}, 900_000);

// Found by the fuzzer (seed 2455482073, call #215): an empty WriteFile stream over TCP was answered
// INVALID_ARGUMENT "got no header" before the token check had finished. Every refusal of a client
// stream now waits for authentication, so a caller without a token is told only that.
// CopyTo (nexus cp) is a header-then-data client stream too, and follows the same rule.
test.each(["WriteFile", "CopyTo"])("a %s stream over TCP without a valid token is UNAUTHENTICATED whatever it sends", async (method) => {
  const path = definition[method]!.path;
  const ser = (m: object) => definition[method]!.requestSerialize(m) as Buffer;
  const header = ser({ header: { workspaceId: "nope", path: "a", ...(method === "WriteFile" ? { mode: 0o644 } : {}) } });
  const data = ser({ data: Buffer.from("x") });
  const streams: Buffer[][] = [[], [Buffer.alloc(0)], [data], [header, header], [data, header]];
  // A well-formed HS256 token with a wrong signature: refusing it takes the (asynchronous) HMAC check.
  const forged = new grpc.Metadata();
  forged.set("authorization", `Bearer ${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify({ sub: "nexus", exp: 4102444800 }))}.${b64url("not-the-signature")}`);
  for (let round = 0; round < 10; round++) {
    const outcomes = await Promise.all(
      streams.flatMap((messages) =>
        [new grpc.Metadata(), forged].map(
          (md) =>
            new Promise<Outcome>((resolve) => {
              const s = tcp.makeClientStreamRequest(path, identity, identity, md, { deadline: Date.now() + 10_000 }, (err) => resolve(outcome(err)));
              for (const m of messages) s.write(m);
              s.end();
            }),
        ),
      ),
    );
    for (const o of outcomes) expect(grpc.status[o.code]).toBe("UNAUTHENTICATED");
  }
});
