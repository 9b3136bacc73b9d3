// Docker's stats samples in the engine interface's words (ContainerStats).
import type { ContainerStats } from "./container-engine.ts";

/** A stats sample as the Docker API reports it (the fields read here). */
export interface RawStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number; percpu_usage?: number[] }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: { cache?: number; inactive_file?: number; total_inactive_file?: number } };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op?: string; value?: number }> | null };
  pids_stats?: { current?: number };
}

/** One Docker stats sample as the API reports it. */
export function toContainerStats(s: RawStats): ContainerStats {
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats?.online_cpus ?? s.cpu_stats?.cpu_usage?.percpu_usage?.length ?? 1;
  const m = s.memory_stats ?? {};
  const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? m.stats?.cache ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op?.toLowerCase() === "read") read += e.value ?? 0;
    if (e.op?.toLowerCase() === "write") write += e.value ?? 0;
  }
  return {
    cpuPercent: cpuDelta > 0 && sysDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0,
    memoryUsedBytes: Math.max(0, (m.usage ?? 0) - cache),
    memoryLimitBytes: m.limit ?? 0,
    networkRxBytes: rx,
    networkTxBytes: tx,
    blockReadBytes: read,
    blockWriteBytes: write,
    pids: s.pids_stats?.current ?? 0,
  };
}
