// The daemon's service graph for integration tests (real engine, a test NEXUS_HOME), and an error matcher.
import { expect } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import type { NexusError } from "../../src/core/errors.ts";
import { silentLogger, type Logger } from "../../src/core/log.ts";
import { buildServices, type Services } from "../../src/daemon/services.ts";
import { nexusPaths } from "../../src/store/paths.ts";

/** What the daemon builds, on `home` with the default config. */
export function serviceGraph(home: string, configText = "", log: Logger = silentLogger): Services {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  return buildServices({ paths: nexusPaths({ NEXUS_HOME: home }), config: parseConfig(configText, join(home, "config.yaml")), env: { HOME: process.env.HOME }, log });
}

/** Awaits `p` and expects it to fail with the taxonomy's `code`; returns the error. */
export async function expectError(p: Promise<unknown>, code: string): Promise<NexusError> {
  try {
    await p;
  } catch (err) {
    expect((err as NexusError).code).toBe(code as NexusError["code"]);
    return err as NexusError;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}
