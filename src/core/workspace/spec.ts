// The container a workspace runs in, as data: pure functions of the record, in the engine interface's
// words (docker/container-engine.ts), so no engine is involved and any engine can run it.
import type { ContainerSpec, MountSpec } from "../../docker/container-engine.ts";
import { pidsLimit } from "../../docker/hardening.ts";
import { LABELS } from "../../docker/labels.ts";
import type { TarEntry } from "../../docker/tar.ts";
import type { KeyPair } from "../../ssh/keys.ts";
import { environmentFile } from "../environment-file.ts";
import { secretsTmpfs } from "./secrets.ts";
import { SUPERVISOR_PATH, SUPERVISOR_PY } from "../supervisor.ts";
import type { WorkspaceRecord } from "../../kernel/types.ts";

/** Where the worktree (or folder) is mounted inside the container. */
export const WORKSPACE_DIR = "/workspace";

export interface HostUser {
  uid: number;
  gid: number;
  home: string;
}

/** The labels that mark a workspace's container and volume as ours (reconcile finds them by these). */
export function workspaceLabels(record: Pick<WorkspaceRecord, "id" | "name">, instance: string): Record<string, string> {
  return {
    [LABELS.managed]: "true",
    [LABELS.instance]: instance,
    [LABELS.workspaceId]: record.id,
    [LABELS.workspaceName]: record.name,
  };
}

/** The workspace's container: SSH and the recorded ports published, worktree and home mounted, limits capped at the engine's CPUs. */
export function containerSpec(record: WorkspaceRecord, labels: Record<string, string>, ncpu: number, hostUser: Pick<HostUser, "uid" | "gid">, gitMounts: readonly MountSpec[] = [], remote = false): ContainerSpec {
  const { uid, gid } = hostUser;
  return {
    name: record.containerName,
    image: record.image,
    hostname: record.name,
    labels,
    env: [`NEXUS_UID=${uid}`, `NEXUS_GID=${gid}`, `NEXUS_WORKSPACE=${record.name}`],
    publish: [{ containerPort: 22, hostPort: record.ports.ssh }, ...record.ports.services.map((p) => ({ containerPort: p.containerPort, hostPort: p.hostPort }))],
    mounts: workspaceMounts(record, gitMounts, remote),
    // Secrets live here, in memory only (secrets.ts): never in the container's configuration or layers.
    tmpfs: secretsTmpfs(uid, gid),
    restartUnlessStopped: true,
    init: true,
    nanoCpus: nanoCpus(record.resources.cpu, ncpu),
    memoryBytes: record.resources.memoryBytes,
    // No setuid files, device nodes or new privileges; a pids limit (the engine applies it: docker/hardening.ts).
    hardening: { sudo: record.sudo === true, pidsLimit: pidsLimit(record.resources) },
  };
}

/**
 * The volume holding /workspace on a remote engine (the worktree is synced into it, never mounted).
 * A checkpoint restore gives the workspace a new home volume (`<container>-home-<6 hex>`); its
 * /workspace volume stays the one it had.
 */
export function workspaceVolume(record: Pick<WorkspaceRecord, "homeVolume">): string {
  return record.homeVolume.replace(/-home(-[0-9a-f]{6})?$/, "") + "-workspace";
}

/**
 * The worktree at /workspace, the home volume, and the workspace's own git dir (`gitMounts`, from
 * git-sync/service.ts) — never the host repository's git dir writable. On a remote engine no path of this
 * machine: /workspace is a volume there.
 */
export function workspaceMounts(record: WorkspaceRecord, gitMounts: readonly MountSpec[] = [], remote = false): MountSpec[] {
  if (remote) {
    return [
      { type: "volume", source: workspaceVolume(record), target: WORKSPACE_DIR },
      { type: "volume", source: record.homeVolume, target: "/home/nexus" },
    ];
  }
  return [
    { type: "bind", source: record.mountPath, target: WORKSPACE_DIR },
    { type: "volume", source: record.homeVolume, target: "/home/nexus" },
    ...gitMounts,
  ];
}

/** A CPU limit as the engine takes it, never above the engine's own CPUs. */
export function nanoCpus(cpu: number, ncpu: number): number {
  return Math.round(Math.min(cpu, ncpu) * 1e9);
}

/** The one-off container of a post-stop hook: the workspace's image and mounts, as the workspace user. */
export function oneOffSpec(r: WorkspaceRecord, instance: string, hostUser: Pick<HostUser, "uid" | "gid">, commandLine: string, env: Record<string, string>, suffix: string, gitMounts: readonly MountSpec[] = [], remote = false): ContainerSpec {
  const labels = workspaceLabels(r, instance);
  const { uid, gid } = hostUser;
  return {
    name: `${r.containerName}-hook-${suffix}`,
    image: r.image,
    labels: { ...labels, [LABELS.role]: "hook" },
    user: `${uid}:${gid}`,
    entrypoint: ["/bin/bash", "-c"],
    cmd: [commandLine],
    workingDir: WORKSPACE_DIR,
    env: [...Object.entries(env).map(([k, v]) => `${k}=${v}`), "HOME=/home/nexus", "USER=nexus"],
    publish: [],
    mounts: workspaceMounts(r, gitMounts, remote),
    network: "bridge",
    memoryBytes: r.resources.memoryBytes,
    hardening: { sudo: r.sudo === true, pidsLimit: pidsLimit(r.resources) },
  };
}

/** The in-container service supervisor, as files for the container's root. */
export function supervisorFiles(): TarEntry[] {
  return [
    { name: "usr/local/lib/nexus", type: "dir", mode: 0o755 },
    { name: SUPERVISOR_PATH.slice(1), content: SUPERVISOR_PY, mode: 0o755 },
  ];
}

/** Host key, authorized keys and the workspace env as files for the container's root (never env vars or labels). */
export function workspaceFiles(hostKey: KeyPair, authorizedKeys: readonly string[], env: Record<string, string>): TarEntry[] {
  const authorized = [...new Set(authorizedKeys)].join("\n") + "\n";
  const environment = environmentFile(env);
  return [
    { name: "etc/nexus", type: "dir", mode: 0o755 },
    { name: "etc/nexus/ssh", type: "dir", mode: 0o755 },
    { name: "etc/nexus/ssh/ssh_host_ed25519_key", content: hostKey.privateKey, mode: 0o600 },
    { name: "etc/nexus/ssh/ssh_host_ed25519_key.pub", content: hostKey.publicKey + "\n", mode: 0o644 },
    { name: "etc/nexus/ssh/authorized_keys", content: authorized, mode: 0o644 },
    { name: "etc/environment", content: environment, mode: 0o644 },
    // The service supervisor comes with the binary, so a new Nexus needs no new image.
    ...supervisorFiles(),
  ];
}
