// A stopped workspace whose host port another program took while it was down (any container
// published with an ephemeral port may get it: our range lies inside the kernel's ephemeral one).
// Docker cannot change a container's port bindings, so start moves the workspace to fresh ports
// (spec §3.6: port conflicts recover with a new port): a new container of the same image, mounts,
// home volume and options, with the old one's filesystem changes copied in as a checkpoint's are
// (a commit read as one tar), never loses a file. The old container stays until the new one
// answers SSH, and the record names the new one only from then on: a failure part way leaves the
// workspace as it was (startable once the port is free, or moved at its next start).
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DELETIONS_FILE, imageChangesParts, NOT_HELD, readContainerFile, reduceChanges, type RootfsChanges } from "../../docker/checkpoints.ts";
import type { ContainerEngine } from "../../docker/container-engine.ts";
import { LABELS } from "../../docker/labels.ts";
import { putRestoreArchive, writeRestoreArchive } from "../../docker/restore-archive.ts";
import { hasCode } from "../../kernel/errors.ts";
import type { PortMapping, WorkspaceRecord } from "../../kernel/types.ts";
import type { ProjectConfig } from "../../config/project.ts";
import type { Step } from "./bring-up.ts";
import type { WorkspaceContainer } from "./container.ts";
import type { WorkspaceContext } from "./context.ts";
import { recordPorts } from "./plan.ts";

/** Labels of the interim image a move commits (never the workspace's: containers made from it would inherit them). */
export const PORT_MOVE_LABELS = {
  instance: "dev.nexus.port-move.instance",
  workspaceId: "dev.nexus.port-move.workspace.id",
} as const;

/** How often fresh ports are tried when another program takes one of them too before the start. */
const ATTEMPTS = 3;

/**
 * Moves the stopped workspace `r` (its container's start just failed with PORT_CONFLICT) to fresh
 * host ports and brings it up there with `boot`; on success the record names the new container and
 * ports (saved), the old container and the interim image are gone. Throws what failed otherwise,
 * with the record and the old container as they were.
 */
export async function moveToFreePorts(c: WorkspaceContext, container: WorkspaceContainer, r: WorkspaceRecord, project: ProjectConfig | undefined, boot: () => Promise<void>, step: Step): Promise<void> {
  const d = c.d;
  const engine = c.engine(r);
  const oldId = r.containerId!;
  const oldPorts = r.ports;
  const info = await engine.inspect(oldId);
  if (!info || info.running) throw new Error(`moveToFreePorts: the container of ${r.name} is ${info ? "running" : "gone"}`);
  step("start", "A port of the workspace was taken by another program; moving the workspace to new ports (its container's files come along)");
  const suffix = randomBytes(3).toString("hex");
  const changes = await carriedChanges(engine, oldId, info.mountTargets);
  // The changed paths are read from a commit of the old container (read in one tar run inside it).
  const image = changes.copy.length > 0 ? `nexus-port-move:${r.id}-${suffix}` : undefined;
  if (image) {
    await engine.commitContainer(oldId, { repo: "nexus-port-move", tag: `${r.id}-${suffix}`, comment: `nexus: ${r.name} moved to new ports` }, { [PORT_MOVE_LABELS.instance]: d.instance, [PORT_MOVE_LABELS.workspaceId]: r.id }, [
      LABELS.managed,
      LABELS.instance,
      LABELS.workspaceId,
      LABELS.workspaceName,
    ]);
  }
  const tarFile = join(d.paths.workspaceDir(r.id), `port-move-${suffix}.tar`);
  const readerLabels = { [LABELS.managed]: "true", [LABELS.instance]: d.instance, [LABELS.role]: "checkpoint-read" };
  try {
    if (image || changes.remove.length > 0) {
      await writeRestoreArchive(engine, imageChangesParts(engine, image ?? "", changes, readerLabels, (n) => d.log.info(`${r.name}: the image has no tar to run; reading its ${n} changed paths one by one`)), tarFile);
    }
    const { ncpu } = await engine.ping();
    for (let attempt = 1; ; attempt++) {
      const fresh = await d.ports.allocate(recordPorts(r).length);
      const ports = { ssh: fresh[0]!, services: oldPorts.services.map((p, i): PortMapping => ({ ...p, hostPort: fresh[i + 1]! })) };
      let newId: string | undefined;
      try {
        // Beside the old one under another name until it runs; from the old one's image, which its changes are on.
        newId = await container.create({ ...r, ports }, ncpu, project, { name: `${r.containerName}-moved-${suffix}`, image: info.image });
        if (image || changes.remove.length > 0) await putRestoreArchive(engine, newId, tarFile);
        r.containerId = newId;
        r.ports = ports;
        await boot();
      } catch (err) {
        r.containerId = oldId;
        r.ports = oldPorts;
        d.ports.release(fresh);
        if (newId) await engine.removeContainer(newId).catch((e: Error) => d.log.warn(`${r.name}: removing the container of a failed move: ${e.message}`));
        if (hasCode("PORT_CONFLICT")(err) && attempt < ATTEMPTS) continue;
        throw err;
      }
      d.store.save(r);
      d.ports.release(recordPorts({ ports: oldPorts }));
      step("start", `A port of the workspace was taken by another program; it moved to ssh port ${ports.ssh}`);
      d.log.info(`${r.name}: moved to new host ports (ssh ${oldPorts.ssh} → ${ports.ssh}): a port was taken while it was stopped`);
      // The workspace runs in the new container: the old one goes, and the new one takes its name.
      await engine.removeContainer(oldId).catch((e: Error) => d.log.warn(`${r.name}: removing its old container after the move: ${e.message}`));
      await engine.renameContainer(newId, r.containerName).catch((e: Error) => d.log.warn(`${r.name}: naming its moved container: ${e.message}`));
      return;
    }
  } finally {
    rmSync(tarFile, { force: true });
    if (image) await engine.removeImage(image).catch((e: Error) => d.log.warn(`${r.name}: removing the interim image ${image}: ${e.message}`));
  }
}

/**
 * The old container's filesystem changes to carry over: those of a checkpoint (not the paths the
 * daemon writes at each start, nor mounts, which the new container mounts itself), plus deletions a
 * restore left for its first start (nexus-init applies DELETIONS_FILE, under /etc/nexus).
 */
async function carriedChanges(engine: ContainerEngine, containerId: string, mountTargets: readonly string[]): Promise<RootfsChanges> {
  const all = await engine.containerChanges(containerId);
  const changes = reduceChanges(all, [...NOT_HELD, ...mountTargets]);
  if (all.some((ch) => ch.Path === DELETIONS_FILE && ch.Kind !== 2)) {
    const pending = (await readContainerFile(engine, containerId, DELETIONS_FILE)).toString("utf8").split("\0").filter(Boolean);
    changes.remove = [...new Set([...changes.remove, ...pending])];
  }
  return changes;
}
