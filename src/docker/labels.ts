import { createHash } from "node:crypto";

// Labels on every container, volume and image Nexus makes: the truth for "which resources are ours".
export const LABELS = {
  managed: "dev.nexus.managed",
  instance: "dev.nexus.instance",
  workspaceId: "dev.nexus.workspace.id",
  workspaceName: "dev.nexus.workspace.name",
  imageContext: "dev.nexus.image.context",
  /** "hook" on the one-off containers that run post-stop hooks (they are not the workspace's container). */
  role: "dev.nexus.role",
} as const;

/** One engine may serve several Nexus homes (a user's and a test's): each home's resources carry its own instance id. */
export function instanceId(nexusHome: string): string {
  return createHash("sha256").update(nexusHome).digest("hex").slice(0, 12);
}
