// nexus.workspace.v1.WorkspaceService over grpc-js. Thin: parse with the core's schemas, call the
// core, map errors once (errors.ts). The descriptor is embedded (descriptor.ts), never read from disk.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { NexusError } from "../../core/errors.ts";
import type { WorkspaceFiles } from "../../core/files.ts";
import { CreateWorkspaceInput, ExecInput, ListWorkspacesInput, parseInput, UpdateWorkspaceInput } from "../../core/inputs.ts";
import type { Logger } from "../../core/log.ts";
import type { WaitCondition, WorkspaceMonitor } from "../../core/monitor.ts";
import type { WorkspaceService } from "../../core/workspaces.ts";
import type { SessionService } from "../../core/sessions/service.ts";
import type { SessionView } from "../../core/sessions/types.ts";
import type { ServiceHealthView, WorkspaceStatus as DomainStatus } from "../../core/types.ts";
import { WORKSPACE_DESCRIPTOR } from "./descriptor.ts";
import type { ExecOutput, Operation, ServiceHealth, Session, WorkspaceServiceMethods, WriteFileHeader__Output, WriteFileRequest__Output } from "./messages.ts";
import { checkpointHandlers } from "./checkpoints.ts";
import { syncHandlers } from "./sync.ts";
import type { SyncService } from "../../core/sync/service.ts";
import type { CheckpointService } from "../../core/checkpoints/service.ts";
import { toGrpcError } from "./errors.ts";
import { chunkSize, rechunk } from "./chunks.ts";
import { copyFrom, copyTo } from "./copy.ts";
import { drained } from "../../kernel/drained.ts";
import { decoded, decodingInHandlers, undecodable } from "./decoding.ts";
import { withSurface } from "../../core/trace/surface.ts";
import { timestamp, backendFromEnum, statusEnum, statusFromEnum, toGrpcStats, toGrpcStatus, toGrpcWorkspace } from "./mappers.ts";

export const SERVICE_NAME = "nexus.workspace.v1.WorkspaceService";
/** Largest file WriteFile takes (it is held in memory before it is written). */
const MAX_WRITE_BYTES = 64 * 1024 * 1024;
/**
 * Output messages (SSH chunks of at most 32 KiB) queued for a slow ExecStream reader before the command
 * is stopped. Exec output waits for 'drain' (back-pressure), so only a transport that ignores it gets here.
 */
const MAX_QUEUED_MESSAGES = 1024;
const FEATURES: Record<string, string> = {
  CreateCheckpoint: "checkpoints",
  RestoreCheckpoint: "checkpoints",
  ListCheckpoints: "checkpoints",
  DeleteCheckpoint: "checkpoints",
  GetSyncStatus: "file sync",
  PauseSync: "file sync",
  ResumeSync: "file sync",
  FlushSync: "file sync",
  ListConflicts: "file sync",
  ResolveConflict: "file sync",
};

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

export function workspaceServiceDefinition(): grpc.ServiceDefinition {
  const pkg = protoLoader.fromJSON(WORKSPACE_DESCRIPTOR as unknown as Parameters<typeof protoLoader.fromJSON>[0], LOADER_OPTIONS);
  return pkg[SERVICE_NAME] as grpc.ServiceDefinition;
}

export interface GrpcDeps {
  workspaces: WorkspaceService;
  /** Sessions (ListSessions, AttachSession, KillSession, ExecStream with detach); left out, those answer UNIMPLEMENTED. */
  sessions?: SessionService;
  files: WorkspaceFiles;
  monitor: WorkspaceMonitor;
  log: Logger;
  /** Left out, the checkpoint RPCs answer UNIMPLEMENTED. */
  checkpoints?: CheckpointService;
  /** Left out, the file sync RPCs answer UNIMPLEMENTED. */
  sync?: SyncService;
  /** Throws AUTHENTICATION_FAILED unless the call's metadata carries a valid token (TCP); absent on the unix socket. */
  authorize?: (metadata: grpc.Metadata) => Promise<void> | void;
}

type Methods = WorkspaceServiceMethods;
type Method = keyof Methods;
/** A method's request as the server decodes it, and what its handler answers (messages.ts, generated). */
type ReqOf<K extends Method> = Methods[K]["request"];
type ResOf<K extends Method> = Methods[K]["response"];
type Unary<K extends Method> = (req: ReqOf<K>, call: grpc.ServerUnaryCall<ReqOf<K>, ResOf<K>>) => ResOf<K> | Promise<ResOf<K>>;
type ServerStreaming<K extends Method> = (req: ReqOf<K>, call: grpc.ServerWritableStream<ReqOf<K>, ResOf<K>>, signal: AbortSignal) => Promise<void>;

export function workspaceHandlers(d: GrpcDeps): grpc.UntypedServiceImplementation {
  const ws = d.workspaces;
  const auth = (md: grpc.Metadata) => d.authorize?.(md);
  const fail = (method: string, err: unknown) => {
    const e = toGrpcError(err);
    if (e.code === grpc.status.INTERNAL) d.log.error(`grpc ${method}: ${(err as Error)?.stack ?? String(err)}`);
    return e;
  };
  // Handlers run as the "grpc" surface of the operation history (core/trace/).
  const unary = <K extends Method>(method: K, fn: Unary<K>): grpc.handleUnaryCall<ReqOf<K>, ResOf<K>> => (call, cb) => withSurface("grpc", () => {
    Promise.resolve()
      .then(() => auth(call.metadata))
      .then(() => fn(decoded(call.request), call))
      .then((r) => cb(null, r), (err) => cb(fail(method, err)));
  });
  const serverStream = <K extends Method>(method: K, fn: ServerStreaming<K>): grpc.handleServerStreamingCall<ReqOf<K>, ResOf<K>> => (call) => {
    const abort = new AbortController();
    call.on("cancelled", () => abort.abort());
    withSurface("grpc", () =>
      Promise.resolve()
        .then(() => auth(call.metadata))
        .then(() => fn(decoded(call.request), call, abort.signal))
        .then(
          () => call.end(),
          (err) => {
            if (!abort.signal.aborted) call.emit("error", fail(method, err));
          },
        ),
    );
  };
  const id = (req: { workspaceId?: string }) => {
    if (typeof req.workspaceId !== "string" || req.workspaceId === "") throw new NexusError("INVALID_ARGUMENT", "workspace_id is required", { suggestion: "Give the workspace's id or name", details: { field: "workspace_id" } });
    return req.workspaceId as string;
  };
  const view = (ref: string) => toGrpcWorkspace(ws.get(ref), ws.resolve(ref));
  const op = (type: string, workspaceId: string, status: DomainStatus, started: number, message = ""): Operation => ({
    id: `op-${type}-${Date.now().toString(36)}`,
    workspaceId,
    type,
    done: true,
    status: statusEnum(status),
    message,
    durationMs: Date.now() - started,
  });

  const impl: grpc.UntypedServiceImplementation = {
    CreateWorkspace: unary("CreateWorkspace", async (req) => {
      const input = parseInput(
        CreateWorkspaceInput,
        strip({
          name: req.name,
          displayName: req.displayName || undefined,
          backend: backendFromEnum(req.backend),
          path: req.repositoryPath || undefined,
          repo: req.repositoryUrl || undefined,
          branch: req.branch || undefined,
          fromBranch: req.fromBranch || undefined,
          noWorktree: req.noWorktree || undefined,
          resources: req.resources || undefined,
          ports: req.ports?.length ? req.ports : undefined,
          env: req.env && Object.keys(req.env).length ? req.env : undefined,
          image: req.image || undefined,
          forwardAgent: req.forwardAgent ?? undefined,
          fromCheckpoint: req.fromCheckpoint || undefined,
          devcontainer: req.devcontainer || undefined,
          trust: req.trust || undefined,
          labels: req.labels && Object.keys(req.labels).length ? req.labels : undefined,
          engine: req.engine || undefined,
        }),
        "create request",
      );
      const created = await ws.create(input);
      return view(created.id);
    }),
    GetWorkspace: unary("GetWorkspace", (req) => view(id(req))),
    ListWorkspaces: unary("ListWorkspaces", (req) => {
      const filter = parseInput(ListWorkspacesInput, strip({ status: statusFromEnum(req.status), backend: backendFromEnum(req.backend), label_selector: req.labelSelector || undefined }), "list request");
      return { workspaces: ws.list(filter).map((w) => toGrpcWorkspace(w, ws.resolve(w.id))) };
    }),
    UpdateWorkspace: unary("UpdateWorkspace", async (req) => {
      const limits = req.resourceLimits && (req.resourceLimits.cpu || req.resourceLimits.memoryBytes) ? { cpu: req.resourceLimits.cpu, memory: req.resourceLimits.memoryBytes } : undefined;
      const input = parseInput(
        UpdateWorkspaceInput,
        strip({ resources: req.resources || limits, idleTimeout: req.idleTimeoutSeconds ?? undefined, displayName: req.displayName ?? undefined, forwardAgent: req.forwardAgent ?? undefined }),
        "update request",
      );
      const updated = await ws.update(id(req), input);
      return view(updated.id);
    }),
    DeleteWorkspace: unary("DeleteWorkspace", async (req) => {
      const r = ws.resolve(id(req));
      await ws.destroy(r.id, { force: req.force === true, keepCheckpoints: req.keepCheckpoints === true });
      return { workspaceId: r.id, deleted: true };
    }),
    StartWorkspace: unary("StartWorkspace", async (req) => {
      const w = await ws.start(id(req), {
        skipHooks: req.skipHooks === true,
        skipServices: req.skipServices === true,
        blocking: req.blocking ?? true, // unset: blocking, as REST
        ...(req.timeoutSeconds > 0 ? { timeoutSeconds: req.timeoutSeconds } : {}),
      });
      return { workspaceId: w.id, status: statusEnum(w.status), services: w.services.map(toGrpcServiceHealth), durationMs: w.durationMs };
    }),
    StopWorkspace: unary("StopWorkspace", async (req) => {
      const started = Date.now();
      const timeout = req.timeoutSeconds > 0 ? req.timeoutSeconds : 30;
      const w = await ws.stop(id(req), { timeoutSeconds: timeout });
      return op("stop", w.id, w.status, started);
    }),
    RestartWorkspace: unary("RestartWorkspace", async (req) => {
      const started = Date.now();
      const w = await ws.restart(id(req), req.force ? { timeoutSeconds: 0 } : {});
      return op("restart", w.id, w.status, started);
    }),
    PauseWorkspace: unary("PauseWorkspace", async (req) => {
      const started = Date.now();
      const w = await ws.pause(id(req), req.timeoutSeconds > 0 ? { timeoutSeconds: req.timeoutSeconds } : {});
      return op("pause", w.id, w.status, started);
    }),
    ResumeWorkspace: unary("ResumeWorkspace", async (req) => {
      const r = await ws.resume(id(req), { blocking: req.blocking ?? true, ...(req.timeoutSeconds > 0 ? { timeoutSeconds: req.timeoutSeconds } : {}) });
      return { workspaceId: r.workspaceId, status: statusEnum(r.status), services: r.services.map(toGrpcServiceHealth), durationMs: r.durationMs };
    }),
    ListServices: unary("ListServices", async (req) => {
      const { services } = await ws.listServices(id(req));
      return {
        services: services.map((s) => ({
          name: s.name,
          containerPort: s.containerPort ?? 0,
          hostPort: s.hostPort ?? 0,
          status: s.status,
          healthCheckPath: s.healthCheck ?? "",
          url: s.url ?? "",
          dependsOn: s.dependsOn,
          restarts: s.restarts,
          message: s.message,
          pid: s.pid ?? 0,
        })),
      };
    }),
    GetServiceLogs: serverStream("GetServiceLogs", async (req, call, signal) => {
      const name = requireField(req.serviceName, "service_name");
      await ws.serviceLogs(id(req), name, { tail: req.tail > 0 ? req.tail : 100, follow: req.follow === true, signal, ...(req.since ? { since: req.since } : {}) }, (e) => (call.write(e) ? undefined : drained(call, { signal })));
    }),
    RestartService: unary("RestartService", async (req) => {
      const started = Date.now();
      const r = await ws.restartService(id(req), requireField(req.serviceName, "service_name"));
      return op("restart-service", r.workspaceId, ws.resolve(r.workspaceId).status, started, `${r.name} is ${r.status}${r.message ? ` (${r.message})` : ""}`);
    }),
    RunHook: unary("RunHook", async (req) => {
      const r = await ws.runHook(id(req), requireField(req.hook, "hook"), req.timeoutSeconds > 0 ? { timeoutSeconds: req.timeoutSeconds } : {});
      return { workspaceId: r.workspaceId, hook: r.hook, exitCode: r.exitCode, durationMs: r.durationMs, output: r.output, logFile: r.logFile, timedOut: r.timedOut };
    }),
    SwitchWorkspace: unary("SwitchWorkspace", async (req) => {
      const r = await ws.switch(id(req));
      return { workspaceId: r.workspaceId, name: r.name, status: statusEnum(r.status), previousWorkspaceId: r.previous ?? "", durationMs: r.durationMs };
    }),
    GetWorkspaceStatus: unary("GetWorkspaceStatus", async (req) => toGrpcStatus(await ws.status(id(req)))),
    WaitForWorkspace: unary("WaitForWorkspace", async (req, call) => {
      const abort = new AbortController();
      call.on("cancelled", () => abort.abort());
      const timeoutMs = (req.timeoutSeconds > 0 ? req.timeoutSeconds : 60) * 1000;
      const r = await d.monitor.wait(id(req), (req.condition || "running") as WaitCondition, timeoutMs, abort.signal);
      return { workspaceId: r.workspaceId, status: statusEnum(r.status), conditionMet: r.met, durationMs: r.durationMs };
    }),
    ExecStream: serverStream("ExecStream", async (req, call, signal) => {
      const input = parseInput(
        ExecInput,
        strip({ command: req.command, args: req.args ?? [], cwd: req.cwd || undefined, env: req.env && Object.keys(req.env).length ? req.env : undefined, timeout: req.timeoutSeconds > 0 ? req.timeoutSeconds : undefined }),
        "exec request",
      );
      if (req.detach === true) {
        const view = await sessionsOf(d).create({ workspace: id(req), kind: "command", argv: [input.command, ...input.args], ...(input.cwd ? { cwd: input.cwd } : {}), ...(input.env ? { env: input.env } : {}) });
        call.write({ sessionId: view.id });
        return;
      }
      // A slow reader pauses the command's output: a full call answers with a promise that settles
      // on 'drain' (or the call's end), and the SSH channel waits for it. The limit is the last guard.
      const slow = new AbortController();
      const send = (m: ExecOutput): Promise<void> | undefined => {
        if (call.writableLength > MAX_QUEUED_MESSAGES) slow.abort(); // object mode: writableLength counts messages
        else if (!call.write(m)) return drained(call, { signal });
        return undefined;
      };
      const exit = await ws
        .exec(id(req), input, { onStdout: (b) => send({ stdout: b }), onStderr: (b) => send({ stderr: b }), signal: AbortSignal.any([signal, slow.signal]), ...(req.stdin?.length ? { stdin: Buffer.from(req.stdin) } : {}) })
        .catch((err) => {
          if (slow.signal.aborted) throw new NexusError("RESOURCE_EXHAUSTED", `The client fell ${MAX_QUEUED_MESSAGES} messages behind the output; the command was stopped`, { suggestion: "Read the stream as it comes", retryable: false });
          throw err;
        });
      call.write({ exitCode: exit.exitCode });
    }),
    ListSessions: unary("ListSessions", async (req) => ({ sessions: (await sessionsOf(d).list(req.workspaceId || undefined)).map(toGrpcSession) })),
    AttachSession: serverStream("AttachSession", async (req, call, signal) => {
      const sid = requireField(req.sessionId, "session_id");
      // The spec's SessionOutput has stderr, which a session (a terminal) never writes: it says what a reader too far behind lost.
      const onDropped = (bytes: number) => call.write({ stderr: `[${bytes} bytes of the session's output were dropped: this reader was more than the kept log behind]\n` });
      const end = await sessionsOf(d).follow(sid, { tail: req.tail > 0 ? req.tail : 1000, signal, onDropped }, (lines) => (call.write({ stdout: lines.join("\n") + "\n" }) ? undefined : drained(call, { signal })));
      if (end.reason === "exited" && end.exitCode !== null) call.write({ exitCode: end.exitCode });
    }),
    KillSession: unary("KillSession", async (req) => {
      const started = Date.now();
      const r = await sessionsOf(d).kill(requireField(req.sessionId, "session_id"));
      return op("kill-session", r.workspaceId, ws.resolve(r.workspaceId).status, started, `session ${r.sessionId} killed`);
    }),
    StreamFile: serverStream("StreamFile", async (req, call, signal) => {
      const ref = id(req);
      let offset = 0;
      // Messages of chunk_size bytes (the last one shorter), then an empty one with eof. A full call
      // pauses the read until 'drain' (back-pressure: the file's `cat` waits behind the SSH window).
      const out = rechunk(chunkSize(req.chunkSize), (data) => {
        const more = call.write({ data, offset, eof: false });
        offset += data.length;
        return more ? undefined : drained(call, { signal });
      });
      await d.files.readFile(ref, req.path, (b) => out.push(b), signal);
      out.flush();
      call.write({ data: Buffer.alloc(0), offset, eof: true });
    }),
    WriteFile: (call: grpc.ServerReadableStream<ReqOf<"WriteFile">, ResOf<"WriteFile">>, cb: grpc.sendUnaryData<ResOf<"WriteFile">>) => {
      let header: WriteFileHeader__Output | undefined;
      const parts: Buffer[] = [];
      let size = 0;
      let failed = false;
      let badMessage: NexusError | undefined;
      const reject = (err: unknown) => {
        if (failed) return;
        failed = true;
        cb(fail("WriteFile", err));
      };
      const authorized = Promise.resolve().then(() => auth(call.metadata));
      authorized.catch(reject);
      // Any other refusal waits for the token check, so a caller without a token
      // learns nothing about the stream it sent (authentication is always answered first).
      let refused = false;
      const refuse = (err: NexusError) => {
        if (refused) return;
        refused = true;
        parts.length = 0;
        authorized.then(() => reject(err), () => {});
      };
      call.on("data", (m: WriteFileRequest__Output) => {
        if (failed || refused) return;
        const bad = undecodable(m);
        if (bad) return void (badMessage ??= bad);
        if (m.content === "header") {
          if (header) return refuse(new NexusError("INVALID_ARGUMENT", "WriteFile takes one header", { suggestion: "Send the header first, then data messages" }));
          header = m.header ?? undefined;
        } else if (m.content === "data") {
          if (!header) return refuse(new NexusError("INVALID_ARGUMENT", "WriteFile needs its header first", { suggestion: "Send {header:{workspace_id,path,mode}} first" }));
          const data = m.data ?? Buffer.alloc(0);
          size += data.length;
          if (size > MAX_WRITE_BYTES) return refuse(new NexusError("RESOURCE_EXHAUSTED", `Files over ${MAX_WRITE_BYTES} bytes cannot be written with WriteFile`, { suggestion: "Copy large files with scp or rsync over 'ssh nexus-<name>'", retryable: false }));
          parts.push(data);
        }
      });
      call.on("end", () => {
        if (failed || refused) return;
        if (badMessage) return void authorized.then(() => reject(badMessage)).catch(reject);
        if (!header) return refuse(new NexusError("INVALID_ARGUMENT", "WriteFile got no header", { suggestion: "Send {header:{workspace_id,path,mode}} first" }));
        const h = header;
        authorized
          .then(() => d.files.writeFile(id(h), h.path, Buffer.concat(parts), h.mode > 0 ? h.mode : 0o644))
          .then((r) => cb(null, { path: r.path, bytesWritten: r.bytesWritten }), reject);
      });
      call.on("error", () => (failed = true));
    },
    CopyFrom: serverStream("CopyFrom", copyFrom(ws)),
    CopyTo: (call: grpc.ServerReadableStream<ReqOf<"CopyTo">, ResOf<"CopyTo">>, cb: grpc.sendUnaryData<ResOf<"CopyTo">>) => withSurface("grpc", () => copyTo(ws, auth, (err) => fail("CopyTo", err))(call, cb)),
    GetStats: unary("GetStats", async (req) => toGrpcStats(await d.monitor.stats(id(req)))),
    StreamStats: serverStream("StreamStats", async (req, call, signal) => {
      const every = Math.max(1, req.intervalSeconds > 0 ? req.intervalSeconds : 2) * 1000;
      await d.monitor.streamStats(id(req), every, (s) => call.write(toGrpcStats(s)), signal);
    }),
    GetSSHInfo: unary("GetSSHInfo", (req) => {
      const { rotationPending: _r, ...info } = ws.sshInfo(id(req));
      return info;
    }),
    ListEngines: unary("ListEngines", async () => ({
      engines: (await ws.engines()).map((e) => ({
        name: e.name,
        host: e.host,
        remote: e.remote,
        isDefault: e.default,
        reachable: e.reachable,
        version: e.version ?? "",
        ncpu: e.ncpu ?? 0,
        memTotal: e.memTotal ?? 0,
        workspaces: e.workspaces,
        errorCode: e.error?.code ?? "",
        errorMessage: e.error?.message ?? "",
        errorSuggestion: e.error?.suggestion ?? "",
      })),
    })),
    GenerateSSHConfig: unary("GenerateSSHConfig", (req) => ws.sshConfig(id(req), { includeHostKey: req.includeHostKey === true })),
    RotateSSHKeys: unary("RotateSSHKeys", async (req) => {
      const started = Date.now();
      const r = await ws.rotateKeys(id(req));
      return op("rotate-keys", r.workspaceId, ws.resolve(r.workspaceId).status, started, `${r.message} (next fingerprint ${r.nextFingerprint})`);
    }),
  };

  if (d.checkpoints) {
    const h = checkpointHandlers(d.checkpoints);
    Object.assign(impl, {
      CreateCheckpoint: unary("CreateCheckpoint", h.CreateCheckpoint),
      RestoreCheckpoint: unary("RestoreCheckpoint", h.RestoreCheckpoint),
      ListCheckpoints: unary("ListCheckpoints", h.ListCheckpoints),
      DeleteCheckpoint: unary("DeleteCheckpoint", h.DeleteCheckpoint),
    });
  }
  if (d.sync) {
    const h = syncHandlers(d.sync);
    Object.assign(impl, {
      GetSyncStatus: unary("GetSyncStatus", h.GetSyncStatus),
      PauseSync: unary("PauseSync", h.PauseSync),
      ResumeSync: unary("ResumeSync", h.ResumeSync),
      FlushSync: unary("FlushSync", h.FlushSync),
      ListConflicts: unary("ListConflicts", h.ListConflicts),
      ResolveConflict: unary("ResolveConflict", h.ResolveConflict),
    });
  }

  const def = workspaceServiceDefinition();
  for (const [method, m] of Object.entries(def)) {
    if (impl[method]) continue;
    const feature = FEATURES[method] ?? method;
    const err = () =>
      new NexusError("UNIMPLEMENTED", `${feature[0]!.toUpperCase()}${feature.slice(1)} is not implemented in this version of Nexus yet`, {
        suggestion: "See the README for what works so far",
        details: { feature, method },
      });
    // Authenticated first, so a caller without a token learns nothing about the service.
    const answer = (md: grpc.Metadata) => Promise.resolve(auth(md)).then(() => Promise.reject(err()));
    if (m.responseStream) impl[method] = (call: grpc.ServerWritableStream<unknown, unknown>) => void answer(call.metadata).catch((e) => call.emit("error", toGrpcError(e)));
    else if (m.requestStream) impl[method] = (call: grpc.ServerReadableStream<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => void answer(call.metadata).catch((e) => cb(toGrpcError(e)));
    else impl[method] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => void answer(call.metadata).catch((e) => cb(toGrpcError(e)));
  }
  return impl;
}

function sessionsOf(d: GrpcDeps): SessionService {
  if (!d.sessions) throw new NexusError("UNIMPLEMENTED", "Sessions are not served here", { suggestion: "Use the daemon's gRPC socket", details: { feature: "sessions" } });
  return d.sessions;
}

function toGrpcSession(s: SessionView): Session {
  return {
    id: s.id,
    workspaceId: s.workspace_id,
    status: s.status,
    createdAt: timestamp(s.created_at),
    workspaceName: s.workspace_name,
    kind: s.kind,
    command: s.command,
    exitCode: s.exit_code ?? 0,
    attachedClients: s.attached_clients,
    lastOutputAt: s.last_output_at ?? "",
  };
}

function toGrpcServiceHealth(s: ServiceHealthView): ServiceHealth {
  return { serviceName: s.name, status: s.status, port: s.port ?? 0, url: s.url ?? "" };
}

function requireField(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") throw new NexusError("INVALID_ARGUMENT", `${field} is required`, { suggestion: `Set ${field}`, details: { field } });
  return value;
}


/** Drops undefined values so valibot's strict objects see only what the caller set. */
function strip(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export interface GrpcServer {
  stop(): Promise<void>;
}

/** Serves the service on `address` (e.g. unix:///home/u/.nexus/grpc.sock or 127.0.0.1:8081). */
export function serveGrpc(address: string, deps: GrpcDeps): Promise<GrpcServer> {
  const server = new grpc.Server({ "grpc.max_receive_message_length": 4 * 1024 * 1024 });
  server.addService(decodingInHandlers(workspaceServiceDefinition()), workspaceHandlers(deps));
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) => {
      if (err) return reject(new NexusError("INTERNAL_ERROR", `gRPC cannot listen on ${address}: ${err.message}`, { suggestion: "Is another daemon or program using it?" }));
      resolve({
        stop: () =>
          new Promise<void>((done) => {
            const t = setTimeout(() => {
              server.forceShutdown();
              done();
            }, 2000);
            server.tryShutdown(() => {
              clearTimeout(t);
              done();
            });
          }),
      });
    });
  });
}
