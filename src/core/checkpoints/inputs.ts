import * as v from "valibot";
import { NAME_PATTERN } from "../names.ts";

// Checkpoint requests, parsed at every edge (REST, gRPC, CLI) with the same schemas.

export const CHECKPOINT_ID_PATTERN = /^ckpt-[0-9a-f]{12}$/;

const CheckpointName = v.pipe(
  v.string("name must be a string"),
  v.regex(NAME_PATTERN, "checkpoint name must be 1-63 lowercase letters, digits and '-', starting with a letter or digit (e.g. before-refactor)"),
  // A name shaped like an id would make "id or name" ambiguous.
  v.check((n) => !CHECKPOINT_ID_PATTERN.test(n), "checkpoint name must not look like a checkpoint id (ckpt-...)"),
);

export const CreateCheckpointInput = v.strictObject({
  name: v.optional(CheckpointName),
  description: v.optional(v.pipe(v.string("description must be a string"), v.maxLength(1000, "description must be at most 1000 characters"))),
});
export type CreateCheckpointInput = v.InferOutput<typeof CreateCheckpointInput>;

export const RestoreCheckpointInput = v.strictObject({
  /** The spec's RestoreCheckpointRequest.workspace_id: when given, the checkpoint must be this workspace's. */
  workspaceId: v.optional(v.pipe(v.string(), v.minLength(1))),
});
export type RestoreCheckpointInput = v.InferOutput<typeof RestoreCheckpointInput>;

/** `GET` of checkpoints (extension): `wait=true` answers once their container changes are listed; `workspace` scopes a name. */
export const CheckpointQuery = v.object({
  wait: v.optional(v.pipe(v.picklist(["true", "false", "1", "0", ""], "wait must be true or false"), v.transform((w) => w === "true" || w === "1" || w === ""))),
  workspace: v.optional(v.string()),
});
