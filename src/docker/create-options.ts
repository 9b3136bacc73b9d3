// A ContainerSpec in the Docker Engine API's words.
import type { ContainerCreateOptions } from "dockerode";
import type { ContainerSpec } from "./container-engine.ts";
import { hardening } from "./hardening.ts";

/** Published ports bind on `bindIp` only (loopback for a local engine: nothing else on the network reaches them). */
export function toCreateOptions(spec: ContainerSpec, bindIp: string): ContainerCreateOptions {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const p of spec.publish) {
    exposed[`${p.containerPort}/tcp`] = {};
    bindings[`${p.containerPort}/tcp`] = [{ HostIp: bindIp, HostPort: String(p.hostPort) }];
  }
  return {
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    Image: spec.image,
    ...(spec.hostname !== undefined ? { Hostname: spec.hostname } : {}),
    Labels: spec.labels,
    Env: spec.env,
    ...(spec.user !== undefined ? { User: spec.user } : {}),
    ...(spec.entrypoint !== undefined ? { Entrypoint: spec.entrypoint } : {}),
    ...(spec.cmd !== undefined ? { Cmd: spec.cmd } : {}),
    ...(spec.workingDir !== undefined ? { WorkingDir: spec.workingDir } : {}),
    ...(spec.publish.length > 0 ? { ExposedPorts: exposed } : {}),
    HostConfig: {
      ...(spec.publish.length > 0 ? { PortBindings: bindings } : {}),
      Mounts: spec.mounts.map((m) => ({ Type: m.type, Source: m.source, Target: m.target, ...(m.readOnly ? { ReadOnly: true } : {}) })),
      ...(spec.tmpfs && Object.keys(spec.tmpfs).length > 0 ? { Tmpfs: spec.tmpfs } : {}),
      ...(spec.restartUnlessStopped ? { RestartPolicy: { Name: "unless-stopped" } } : {}),
      ...(spec.init ? { Init: true } : {}),
      ...(spec.nanoCpus !== undefined ? { NanoCpus: spec.nanoCpus } : {}),
      Memory: spec.memoryBytes,
      ...(spec.network !== undefined ? { NetworkMode: spec.network } : {}),
      ...hostSecurity(spec),
    },
  };
}

/** The hardening's settings with the project's additions on top: a dropped capability stays dropped. */
function hostSecurity(spec: ContainerSpec): { SecurityOpt?: string[]; CapDrop?: string[]; CapAdd?: string[]; PidsLimit?: number; ExtraHosts?: string[]; ShmSize?: number; Ulimits?: Array<{ Name: string; Soft: number; Hard: number }> } {
  const base: { SecurityOpt?: string[]; CapDrop?: string[]; PidsLimit?: number } = spec.hardening ? hardening(spec.hardening) : {};
  const o = spec.projectOptions;
  if (!o) return base;
  const capDrop = [...new Set([...(base.CapDrop ?? []), ...o.capDrop])];
  const capAdd = [...new Set(o.capAdd)].filter((c) => !capDrop.includes(c));
  const securityOpt = [...new Set([...(base.SecurityOpt ?? []), ...o.securityOpt])];
  return {
    ...base,
    ...(securityOpt.length > 0 ? { SecurityOpt: securityOpt } : {}),
    ...(capDrop.length > 0 ? { CapDrop: capDrop } : {}),
    ...(capAdd.length > 0 ? { CapAdd: capAdd } : {}),
    ...(o.extraHosts.length > 0 ? { ExtraHosts: o.extraHosts } : {}),
    ...(o.shmSize !== undefined ? { ShmSize: o.shmSize } : {}),
    ...(o.ulimits.length > 0 ? { Ulimits: o.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })) } : {}),
  };
}
