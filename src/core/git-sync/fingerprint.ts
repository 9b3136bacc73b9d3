// Whether refs moved since the last sync: the fingerprints of a workspace's refs as its sync state
// saves them, read with lstat here, or with one command inside for a remote workspace.
import { refsFingerprint, type OwnGitLayout } from "../../git/own-gitdir.ts";
import type { WorkspaceRecord } from "../types.ts";
import type { SyncState } from "./state.ts";
import type { WorkspaceGitWire } from "./wire.ts";
import { fingerprintLine } from "./remote-git.ts";

/** The fingerprint of the workspace's refs: lstat here, or one command inside for a remote workspace. */
export async function ownFingerprint(wire: WorkspaceGitWire, r: WorkspaceRecord, l: OwnGitLayout, s: SyncState): Promise<string> {
  return s.remote ? await wire.run(r, fingerprintLine(l.branch)) : refsFingerprint(l, "own");
}

/** Both sides' fingerprint, as saved at the last sync. */
export async function bothFingerprint(wire: WorkspaceGitWire, r: WorkspaceRecord, l: OwnGitLayout, s: SyncState): Promise<string> {
  return s.remote ? `${await ownFingerprint(wire, r, l, s)}#${refsFingerprint(l, "host")}` : refsFingerprint(l);
}
