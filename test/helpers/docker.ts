// Helpers for tests against the real engine: whatever a test made (by its instance label) is removed, even on failure.
import { execFileSync } from "node:child_process";
import { CHECKPOINT_LABELS } from "../../src/docker/checkpoints.ts";
import { instanceId, LABELS } from "../../src/docker/labels.ts";

export function docker(...args: string[]): string {
  return execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

export function engineAnswers(): boolean {
  try {
    docker("info", "--format", "{{.ServerVersion}}");
    return true;
  } catch {
    return false;
  }
}

/** Containers and volumes carrying the instance label of `nexusHome`. */
export function leftovers(nexusHome: string): { containers: string[]; volumes: string[] } {
  const label = `${LABELS.instance}=${instanceId(nexusHome)}`;
  const containers = docker("ps", "-aq", "--filter", `label=${label}`).split("\n").filter(Boolean);
  const volumes = docker("volume", "ls", "-q", "--filter", `label=${label}`).split("\n").filter(Boolean);
  return { containers, volumes };
}

export function removeLeftovers(nexusHome: string): void {
  const { containers, volumes } = leftovers(nexusHome);
  if (containers.length) docker("rm", "-fv", ...containers);
  if (volumes.length) docker("volume", "rm", "-f", ...volumes);
}

/** The checkpoint images of `nexusHome`'s instance. */
export function checkpointImages(nexusHome: string): string[] {
  return docker("images", "-q", "--filter", `label=${CHECKPOINT_LABELS.instance}=${instanceId(nexusHome)}`).split("\n").filter(Boolean);
}

export function removeCheckpointImages(nexusHome: string): void {
  const images = checkpointImages(nexusHome);
  if (images.length) docker("rmi", "-f", ...images);
}
