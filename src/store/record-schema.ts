// A workspace record as it is on disk (workspaces/<id>/workspace.json): read through a schema, so a
// record from a newer daemon or a damaged file is a clear error, and one from an older daemon migrates.
import * as v from "valibot";
import { specificIssue } from "../kernel/issues.ts";
import { BACKENDS, WORKSPACE_STATUSES, type WorkspaceRecord } from "../kernel/types.ts";

/** The record format this daemon writes. Records without a version were written before there was one: 1. */
export const RECORD_VERSION = 1;

const PortMapping = v.object({ name: v.string(), containerPort: v.number(), hostPort: v.number() });

// Loose objects: fields this schema does not name (added by a feature) are kept as they are, not dropped.
const RecordSchema = v.looseObject({
  version: v.optional(v.number(), 1),
  id: v.string(),
  name: v.string(),
  displayName: v.string(),
  status: v.picklist(WORKSPACE_STATUSES),
  backend: v.picklist(BACKENDS),
  repository: v.nullable(v.looseObject({ path: v.string(), gitCommonDir: v.string(), url: v.optional(v.string()), cloned: v.boolean() })),
  worktree: v.nullable(v.looseObject({ path: v.string(), branch: v.string(), branchCreated: v.boolean() })),
  mountPath: v.string(),
  engine: v.optional(v.string()),
  branch: v.string(),
  image: v.string(),
  containerName: v.string(),
  containerId: v.nullable(v.string()),
  homeVolume: v.string(),
  ports: v.object({ ssh: v.number(), services: v.array(PortMapping) }),
  resources: v.looseObject({ preset: v.optional(v.string()), cpu: v.number(), memoryBytes: v.number() }),
  env: v.record(v.string(), v.string()),
  labels: v.optional(v.record(v.string(), v.string())),
  forwardAgent: v.boolean(),
  idleTimeoutSeconds: v.optional(v.nullable(v.number())),
  hostKeyFingerprint: v.string(),
  removeCloneOnDestroy: v.optional(v.boolean()),
  hostKeyRotationPending: v.optional(v.boolean()),
  error: v.nullable(v.looseObject({ code: v.string(), message: v.string(), details: v.optional(v.record(v.string(), v.unknown())) })),
  createdAt: v.string(),
  updatedAt: v.string(),
  lastActiveAt: v.string(),
});

// The schema and the record type cannot drift apart: this line stops compiling when they do.
const asRecord: (r: v.InferOutput<typeof RecordSchema>) => WorkspaceRecord = (r) => r;

/** Why a record file cannot be used. */
export class RecordError extends Error {}

/** The record in `text` (the contents of `file`), migrated to this daemon's format. */
export function parseRecord(text: string, file: string): WorkspaceRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RecordError(`${file} is not JSON (${(err as Error).message}); the workspace is left out until it is repaired or removed`);
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (typeof version === "number" && version > RECORD_VERSION) {
    throw new RecordError(`${file} is a version ${version} record, written by a newer Nexus (this one reads up to ${RECORD_VERSION}); it is left as it is`);
  }
  const parsed = v.safeParse(RecordSchema, json);
  if (!parsed.success) {
    const issue = specificIssue(parsed.issues[0]!);
    const where = issue.path?.map((p) => String(p.key)).join(".") || "the record";
    throw new RecordError(`${file}: ${where}: ${issue.message}; the workspace is left out until it is repaired or removed`);
  }
  const { version: _version, ...record } = asRecord(parsed.output) as WorkspaceRecord & { version?: number };
  return record;
}

/** The file's contents for `record`, with the format version. */
export function formatRecord(record: WorkspaceRecord): string {
  return JSON.stringify({ version: RECORD_VERSION, ...record }, null, 2) + "\n";
}
