// Requests whose bytes are no protobuf message: grpc-js alone would answer INTERNAL with no taxonomy
// code, so the definition hands the failure to the handler, which answers INVALID_ARGUMENT after auth.
import type * as grpc from "@grpc/grpc-js";
import { NexusError } from "../../kernel/errors.ts";

type Req = Record<string, any>;

/** Marks a request whose bytes did not decode; grpc-js alone would answer INTERNAL with no taxonomy code. */
export const UNDECODABLE = "\u0000undecodable"; // no protobuf field can have this name

/** The definition with decoding failures handed to the handlers, which answer them INVALID_ARGUMENT (after auth). */
export function decodingInHandlers(def: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(def).map(([name, m]) => [
      name,
      {
        ...m,
        requestDeserialize: (buf: Buffer) => {
          try {
            return m.requestDeserialize(buf);
          } catch (err) {
            return { [UNDECODABLE]: (err as Error).message };
          }
        },
      },
    ]),
  );
}

/** The INVALID_ARGUMENT answer for a request that did not decode; undefined for one that did. */
export function undecodable(message: unknown): NexusError | undefined {
  const req = message as Req | undefined;
  if (!req?.[UNDECODABLE]) return undefined;
  return new NexusError("INVALID_ARGUMENT", `The request is not a valid protobuf message: ${req[UNDECODABLE]}`, { suggestion: "Encode it with the service's .proto (proto/nexus/workspace/v1/workspace.proto)" });
}

/** The request, or the throw of undecodable(). */
export function decoded<T>(req: T): T {
  const err = undecodable(req);
  if (err) throw err;
  return req;
}
