// nexus cp over gRPC (an extension, as REST's GET|PUT /api/v1/workspaces/{id}/archive): CopyFrom
// streams a container path out as tar, CopyTo streams a tar in. Both call the same core functions as
// REST (WorkspaceService.readArchive / writeArchive) and neither holds the archive: reads wait for the
// client (back-pressure), writes pause the call while the engine is behind.
import type * as grpc from "@grpc/grpc-js";
import { PassThrough } from "node:stream";
import { NexusError } from "../../kernel/errors.ts";
import type { WorkspaceService } from "../../core/workspaces.ts";
import { chunkSize, rechunk } from "./chunks.ts";
import { undecodable } from "./decoding.ts";
import { drained } from "../../kernel/drained.ts";
import type { toGrpcError } from "./errors.ts";
import type { CopyFromChunk, CopyFromRequest__Output, CopyToHeader__Output, CopyToRequest__Output, CopyToResponse } from "./messages.ts";

function required(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") throw new NexusError("INVALID_ARGUMENT", `${field} is required`, { suggestion: field === "path" ? "e.g. /etc/hosts, ~/.bashrc or src/app.ts (relative to /workspace)" : `Set ${field}`, details: { field } });
  return value;
}

/** CopyFrom: the header (what the path is), then the tar in messages of chunk_size bytes. */
export function copyFrom(ws: WorkspaceService) {
  return async (req: CopyFromRequest__Output, call: grpc.ServerWritableStream<CopyFromRequest__Output, CopyFromChunk>, signal: AbortSignal): Promise<void> => {
    const ref = required(req.workspaceId, "workspace_id");
    const path = required(req.path, "path");
    const size = chunkSize(req.chunkSize);
    const r = await ws.readArchive(ref, path);
    const stream = r.stream as NodeJS.ReadableStream & { destroy?: (err?: Error) => void };
    const stop = () => stream.destroy?.();
    signal.addEventListener("abort", stop);
    try {
      call.write({ header: { path: r.path, stat: r.stat, resumedMs: r.resumed?.durationMs ?? 0 } });
      let full = false;
      const out = rechunk(size, (data) => {
        if (!call.write({ data })) full = true;
      });
      for await (const b of stream as AsyncIterable<Buffer>) {
        if (signal.aborted) return;
        out.push(b);
        if (full) {
          await drained(call, { signal });
          full = false;
        }
      }
      if (!signal.aborted) out.flush();
    } finally {
      signal.removeEventListener("abort", stop);
    }
  };
}

/**
 * CopyTo: a header, then the tar as data messages, streamed into the core as they come. As WriteFile,
 * every refusal waits for the token check, so a caller without a token learns nothing else.
 */
export function copyTo(ws: WorkspaceService, authorize: (md: grpc.Metadata) => Promise<void> | void, fail: (err: unknown) => ReturnType<typeof toGrpcError>) {
  return (call: grpc.ServerReadableStream<CopyToRequest__Output, CopyToResponse>, cb: grpc.sendUnaryData<CopyToResponse>): void => {
    let finished = false;
    const finish = (err: unknown, res?: CopyToResponse) => {
      if (finished) return;
      finished = true;
      // Refused or failed: the core's copy, if it started, stops on this error and lets go of the engine.
      if (err) archive.destroy(new NexusError("CANCELLED", "CopyTo was refused"));
      call.resume();
      if (err) cb(fail(err));
      else cb(null, res);
    };
    const authorized = Promise.resolve().then(() => authorize(call.metadata));
    authorized.catch((err) => finish(err));
    const refuse = (err: unknown) => void authorized.then(() => finish(err), () => {});
    const archive = new PassThrough();
    archive.on("drain", () => call.resume());
    // Its errors are for the core's copy, which listens while it reads; unread, they must not go unhandled.
    archive.on("error", () => {});
    let header: CopyToHeader__Output | undefined;
    let ended = false;

    call.on("data", (m: CopyToRequest__Output) => {
      if (finished) return;
      const bad = undecodable(m);
      if (bad) return refuse(bad);
      if (m.content === "header") {
        if (header) return refuse(new NexusError("INVALID_ARGUMENT", "CopyTo takes one header", { suggestion: "Send the header first, then data messages" }));
        const h = (header = m.header ?? { workspaceId: "", path: "" });
        authorized
          .then(() => ws.writeArchive(required(h.workspaceId, "workspace_id"), required(h.path, "path"), archive))
          .then((r) => finish(null, { path: r.path, entries: r.entries, bytes: r.bytes, resumedMs: r.resumed?.durationMs ?? 0 }), (err) => finish(err))
          .catch(() => {});
      } else if (m.content === "data") {
        if (!header) return refuse(new NexusError("INVALID_ARGUMENT", "CopyTo needs its header first", { suggestion: "Send {header:{workspace_id,path}} first" }));
        if (!archive.write(m.data ?? Buffer.alloc(0))) call.pause();
      }
    });
    call.on("end", () => {
      ended = true;
      if (finished) return;
      if (!header) return refuse(new NexusError("INVALID_ARGUMENT", "CopyTo got no header", { suggestion: "Send {header:{workspace_id,path}} first, then the tar as data messages" }));
      archive.end();
    });
    // A client gone mid-stream: the half-read tar fails the core's copy, which answers nobody.
    const gone = () => {
      if (!ended) archive.destroy(new NexusError("CANCELLED", "The client went away during CopyTo"));
      finished = true;
    };
    call.on("error", gone);
    call.on("cancelled", gone);
  };
}
