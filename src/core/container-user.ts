// Which uid/gid the workspace's user `nexus` takes inside the container, from the host user's.
//
// Files in the bind-mounted worktree (and the repository's git dir) must stay writable by the
// container user and stay owned by the host user. So `nexus` takes the host user's uid/gid. When
// the host user is root, that is uid 0: `nexus` becomes a second name for root inside the container
// (with passwordless sudo it already had root's powers there), files it makes are root's, as
// everything else root makes on the host. sshd then allows that user a key-only login
// (`PermitRootLogin prohibit-password`; `AllowUsers nexus` still admits no other name, and there are
// no passwords). Mapping root to another uid would leave the worktree unwritable, or hand files to
// an id the host user does not use.

export type ContainerUserMode = "host-user" | "root";

export interface ContainerUser {
  uid: number;
  gid: number;
  mode: ContainerUserMode;
}

export function containerUser(host: { uid: number; gid: number }): ContainerUser {
  return host.uid === 0 ? { uid: 0, gid: 0, mode: "root" } : { uid: host.uid, gid: host.gid, mode: "host-user" };
}

/** One line for `nexus doctor`: which ids files made in a workspace get, and why. */
export function describeContainerUser(u: ContainerUser): string {
  return u.mode === "root"
    ? "host user is root: the workspace user 'nexus' is uid 0 (files it makes are root's, as on the host); SSH login is key-only"
    : `the workspace user 'nexus' takes your uid ${u.uid} and gid ${u.gid}: files it makes in the worktree are yours`;
}
