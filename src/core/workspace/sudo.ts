// Which sudo a new workspace gets (sudo lifts no-new-privileges: docker/hardening.ts). It is decided
// once, at create; a restore keeps the workspace's. A workspace from a checkpoint gets the sudo the
// checkpoint's workspace ran with: the checkpoint's .nexus/workspace.yaml is its working file, which
// the processes that workspace confined could write, and must not hand them sudo in the next one.
import type { ProjectConfig } from "../../config/project-types.ts";

export interface SudoChoice {
  sudo: boolean;
  /** Why the checkpoint's project file was not followed, for the create's progress (unset: it was, or there is none). */
  note?: string;
}

/**
 * `project`: the merged configuration (workspaces.<name> of the user config last); `seed`: the
 * checkpoint's workspace's sudo, for `create --from-checkpoint`; `own`: workspaces.<name>.sudo of
 * the user config, which the user wrote and which decides there too.
 */
export function createSudo(name: string, project: Pick<ProjectConfig, "sudo">, seed: { sudo: boolean } | undefined, own: boolean | undefined): SudoChoice {
  if (!seed) return { sudo: project.sudo === true };
  const sudo = own ?? seed.sudo;
  if (own !== undefined || (project.sudo === true) === sudo) return { sudo };
  return {
    sudo,
    note: sudo
      ? `sudo stays on, as the checkpoint's workspace had it, though its .nexus/workspace.yaml no longer asks for it (set workspaces.${name}.sudo: false in ~/.nexus/config.yaml to turn it off)`
      : `sudo stays off, as the checkpoint's workspace ran, though its .nexus/workspace.yaml says sudo: true (set workspaces.${name}.sudo: true in ~/.nexus/config.yaml to give it sudo)`,
  };
}
