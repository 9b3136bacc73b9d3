// Filled in at build time by `bun build --define`; source runs report "dev".
declare const NEXUS_VERSION: string | undefined;
declare const NEXUS_COMMIT: string | undefined;
declare const NEXUS_BUILD_DATE: string | undefined;

export interface BuildInfo {
  version: string;
  commit: string;
  buildDate: string;
  platform: string;
}

export function buildInfo(): BuildInfo {
  return {
    version: typeof NEXUS_VERSION === "string" ? NEXUS_VERSION : "0.0.0-dev",
    commit: typeof NEXUS_COMMIT === "string" ? NEXUS_COMMIT : "dev",
    buildDate: typeof NEXUS_BUILD_DATE === "string" ? NEXUS_BUILD_DATE : "",
    platform: `${process.platform}-${process.arch}`,
  };
}

/** This build as the CLI names it to its daemon (x-nexus-expect-version): version+commit. */
export function buildId(): string {
  const ours = buildInfo();
  return `${ours.version}+${ours.commit}`;
}
