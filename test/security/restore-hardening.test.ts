// A checkpoint restore makes the workspace a new container (core/checkpoints/restore.ts); it must be
// as hardened as the one it replaces. Without the project's `sudo: true` that is: Nexus's seccomp
// profile, MKNOD and SETFCAP dropped, no-new-privileges, a pids limit (docker/hardening.ts). Each
// workspace here gets a file in its worktree, its home and its container's own filesystem, a
// checkpoint, other contents, and the restore; then its new container is read back from the engine
// (by this test's instance label) and from inside, beside what its first container had.
// `create --from-checkpoint` makes a container from a checkpoint too: a workspace from each one's
// checkpoint is hardened as that workspace is (its sudo is the one the checkpoint's workspace ran
// with, whatever the checkpoint's .nexus/workspace.yaml, written inside, says: core/workspace/sudo.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hardening, pidsLimit } from "../../src/docker/hardening.ts";
import { instanceId, LABELS } from "../../src/docker/labels.ts";
import { docker, removeCheckpointImages } from "../helpers/docker.ts";
import { makeRepo } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { harness, type Harness } from "./harness.ts";

slowTests(300_000);

let h: Harness;

beforeAll(async () => {
  h = await harness("sec-restore");
  await h.s.checkpoints.reconcile();
  await h.s.workspaces.create({ name: "sec-restore", path: makeRepo(join(h.root.path, "repo")) });
  await h.s.workspaces.create({ name: "sec-restore-sudo", path: makeRepo(join(h.root.path, "sudo-repo"), { "README.md": "# s\n", ".nexus/workspace.yaml": "sudo: true\n" }) });
}, 600_000);

afterAll(async () => {
  if (!h) return;
  const home = h.home;
  await h.close();
  removeCheckpointImages(home);
});

/** What of a container's configuration decides what its processes may do, as the engine reports it. */
interface Security {
  SecurityOpt: string[] | null;
  CapDrop: string[] | null;
  CapAdd: string[] | null;
  Privileged: boolean;
  PidsLimit: number | null;
  Devices: unknown;
  UsernsMode: string;
  IpcMode: string;
  PidMode: string;
  NetworkMode: string;
  ReadonlyPaths: string[] | null;
  MaskedPaths: string[] | null;
  User: string;
}

/** The container of workspace `ws`, inspected; it must carry this test's instance label (nothing else is touched). */
function inspect(ws: string): { id: string; security: Security } {
  const id = h.s.workspaces.resolve(ws).containerId!;
  const info = JSON.parse(docker("inspect", id))[0];
  expect(info.Config.Labels[LABELS.instance]).toBe(instanceId(h.home));
  expect(info.State.Running).toBe(true);
  const c = info.HostConfig;
  return {
    id: info.Id,
    security: {
      SecurityOpt: c.SecurityOpt,
      CapDrop: c.CapDrop,
      CapAdd: c.CapAdd,
      Privileged: c.Privileged,
      PidsLimit: c.PidsLimit,
      Devices: c.Devices,
      UsernsMode: c.UsernsMode,
      IpcMode: c.IpcMode,
      PidMode: c.PidMode,
      NetworkMode: c.NetworkMode,
      ReadonlyPaths: c.ReadonlyPaths,
      MaskedPaths: c.MaskedPaths,
      User: info.Config.User,
    },
  };
}

/** A line run as `uid` through the engine (not through the workspace's sudo or its user). */
function engineSh(id: string, uid: string, line: string): { exitCode: number; out: string } {
  try {
    return { exitCode: 0, out: docker("exec", "-u", uid, id, "sh", "-c", `${line} 2>&1`) };
  } catch (err) {
    const e = err as { status?: number; stdout?: string };
    return { exitCode: e.status ?? -1, out: e.stdout ?? "" };
  }
}

const FILES = "/workspace/kept.txt ~/kept.txt /var/tmp/kept.txt";

/** Writes `text` into the three files as the workspace user. */
async function writeFiles(ws: string, text: string): Promise<void> {
  const r = await h.sh(ws, `for f in ${FILES}; do echo ${text} > $f; done; echo written`);
  expect(r.stdout).toBe("written\n");
}

/** Writes the three files as the workspace user, checkpoints, writes them over, and restores the checkpoint. */
async function checkpointAndRestore(ws: string): Promise<void> {
  await writeFiles(ws, "kept");
  await h.s.checkpoints.create(ws, { name: "before" });
  await writeFiles(ws, "later");
  const result = await h.s.checkpoints.restore("before", ws);
  expect(result.status).toBe("running");
}

/**
 * Writes the three files and, as the workspace user, `yaml` over the worktree's
 * .nexus/workspace.yaml; checkpoints; makes `<ws>-copy` from the checkpoint. Answers the copy's
 * name and what its create said.
 */
async function copyFromCheckpoint(ws: string, yaml: string): Promise<{ copy: string; said: string }> {
  await writeFiles(ws, "kept");
  expect((await h.sh(ws, `mkdir -p /workspace/.nexus && echo '${yaml}' > /workspace/.nexus/workspace.yaml && echo written`)).stdout).toBe("written\n");
  const cp = await h.s.checkpoints.create(ws, { name: "for-copy" });
  const copy = `${ws}-copy`;
  const said: string[] = [];
  const made = await h.s.workspaces.create({ name: copy, fromCheckpoint: cp.id }, (e) => said.push(e.message));
  expect(made.status).toBe("running");
  return { copy, said: said.join("\n") };
}

/** NoNewPrivs, Seccomp mode and the bounding set of the asking process, from /proc/self/status. */
function procStatus(text: string): { noNewPrivs: string; seccomp: string; capBnd: bigint } {
  const field = (name: string) => new RegExp(`^${name}:\\s+(\\S+)`, "m").exec(text)?.[1] ?? "";
  return { noNewPrivs: field("NoNewPrivs"), seccomp: field("Seccomp"), capBnd: BigInt(`0x${field("CapBnd") || "0"}`) };
}

/** What sudo says when its setuid bit gave it nothing (newer sudo names the flag, older the uid it got). */
const SUDO_WITHOUT_ROOT = /"no new privileges" flag is set|effective uid is not 0/;

/** Makes a setuid copy of a program in the container's own filesystem (not the worktree). */
const SET_UID_BIT = "cp /bin/true /var/tmp/suid && chmod 4755 /var/tmp/suid";

const CAP_MKNOD = 27n;
const CAP_SETFCAP = 31n;

describe("a restored workspace keeps its hardening", () => {
  test("without sudo: true, the restored container has the seccomp profile, dropped capabilities and no-new-privileges of the first one; sudo gains nothing; the files are back and the user's", async () => {
    const ws = "sec-restore";
    const r = h.s.workspaces.resolve(ws);
    expect(r.sudo).not.toBe(true);
    const first = inspect(ws);
    // The first container is hardened as docker/hardening.ts says (the restored one is compared with it).
    const expected = hardening({ sudo: false, pidsLimit: pidsLimit(r.resources) });
    expect(first.security.SecurityOpt).toEqual(expected.SecurityOpt);
    expect(first.security.SecurityOpt).toContain("no-new-privileges:true");
    expect(first.security.CapDrop).toEqual(expected.CapDrop);
    expect(first.security.PidsLimit).toBe(expected.PidsLimit);
    expect(first.security.Privileged).toBe(false);

    await checkpointAndRestore(ws);

    const restored = inspect(ws);
    expect(restored.id).not.toBe(first.id);
    expect(docker("ps", "-aq", "--no-trunc", "--filter", `id=${first.id}`)).toBe("");
    expect(restored.security).toEqual(first.security);

    await expectNoNewPrivileges(ws, restored.id);
    await expectFilesBack(ws);
  });

  test("with sudo: true the restored container keeps the project's sudo (and only that: the same profile and dropped capabilities)", async () => {
    const ws = "sec-restore-sudo";
    const r = h.s.workspaces.resolve(ws);
    expect(r.sudo).toBe(true);
    const first = inspect(ws);
    const expected = hardening({ sudo: true, pidsLimit: pidsLimit(r.resources) });
    expect(first.security.SecurityOpt).toEqual(expected.SecurityOpt);
    expect(first.security.SecurityOpt).not.toContain("no-new-privileges:true");
    expect(first.security.CapDrop).toEqual(expected.CapDrop);

    await checkpointAndRestore(ws);

    const restored = inspect(ws);
    expect(restored.id).not.toBe(first.id);
    expect(restored.security).toEqual(first.security);
    await expectSudo(ws, restored.id);
    expect((await h.sh(ws, `cat ${FILES}`)).stdout).toBe("kept\nkept\nkept\n");
  });
});

describe("a workspace from a checkpoint is hardened as the checkpoint's workspace was", () => {
  test("from the default workspace's checkpoint: its hardening, no sudo though the checkpoint's .nexus/workspace.yaml (written inside) says sudo: true; the files are back and the user's", async () => {
    const ws = "sec-restore";
    expect(h.s.workspaces.resolve(ws).sudo).not.toBe(true);
    const { copy, said } = await copyFromCheckpoint(ws, "sudo: true");
    expect(h.s.workspaces.resolve(copy).sudo).not.toBe(true);
    const made = inspect(copy);
    expect(made.security).toEqual(inspect(ws).security);
    expect(made.security.SecurityOpt).toContain("no-new-privileges:true");
    await expectNoNewPrivileges(copy, made.id);
    await expectFilesBack(copy);
    // The checkpoint's project file came back and was read, not followed; the create said so.
    expect((await h.sh(copy, "cat /workspace/.nexus/workspace.yaml")).stdout).toBe("sudo: true\n");
    expect(said).toContain("sudo stays off");
  });

  test("from the sudo: true workspace's checkpoint: its sudo (and only that), though the checkpoint's .nexus/workspace.yaml says sudo: false", async () => {
    const ws = "sec-restore-sudo";
    expect(h.s.workspaces.resolve(ws).sudo).toBe(true);
    const { copy, said } = await copyFromCheckpoint(ws, "sudo: false");
    expect(h.s.workspaces.resolve(copy).sudo).toBe(true);
    const made = inspect(copy);
    expect(made.security).toEqual(inspect(ws).security);
    await expectSudo(copy, made.id);
    await expectFilesBack(copy);
    expect(said).toContain("sudo stays on");
  });
});

/**
 * Inside the container `id` of `ws`: every process (the workspace user's, and root's through the
 * engine) runs under the filter, without MKNOD and SETFCAP, and can gain no privileges.
 */
async function expectNoNewPrivileges(ws: string, id: string): Promise<void> {
  const user = await h.sh(ws, "cat /proc/self/status; echo uid=$(id -u)");
  const asRoot = engineSh(id, "0", "cat /proc/self/status");
  for (const text of [user.stdout, asRoot.out]) {
    const s = procStatus(text);
    expect(s.noNewPrivs).toBe("1");
    expect(s.seccomp).toBe("2");
    expect(s.capBnd & (1n << CAP_MKNOD)).toBe(0n);
    expect(s.capBnd & (1n << CAP_SETFCAP)).toBe(0n);
  }
  // Nexus's profile, not the engine's default one (which allows it): even root cannot set the bit.
  expect(engineSh(id, "0", SET_UID_BIT)).toEqual({ exitCode: 1, out: expect.stringContaining("Operation not permitted") });
  // A setuid-root program run by someone else than root stays theirs: sudo finds itself without
  // its effective uid 0 and says so. As 'nobody' through the engine, so a root host (whose
  // workspace user is uid 0, root already) proves it too.
  const nobody = engineSh(id, "65534:65534", "sudo -n true");
  expect(nobody.exitCode).not.toBe(0);
  expect(nobody.out).toMatch(SUDO_WITHOUT_ROOT);
  // The workspace user's sudo: no root for a non-root host user.
  if (!user.stdout.includes("uid=0\n")) {
    const sudo = await h.sh(ws, "sudo -n true 2>&1; echo sudo=$?");
    expect(sudo.stdout).not.toContain("sudo=0");
    expect(sudo.stdout).toMatch(SUDO_WITHOUT_ROOT);
  }
}

/** Inside the container `id` of a `sudo: true` workspace: the same checks come out the other way, but for the filter and the dropped capabilities. */
async function expectSudo(ws: string, id: string): Promise<void> {
  const s = procStatus((await h.sh(ws, "cat /proc/self/status")).stdout);
  expect(s.noNewPrivs).toBe("0");
  expect(s.seccomp).toBe("2");
  expect(s.capBnd & (1n << CAP_MKNOD)).toBe(0n);
  expect(engineSh(id, "0", SET_UID_BIT)).toEqual({ exitCode: 1, out: expect.stringContaining("Operation not permitted") });
  const nobody = engineSh(id, "65534:65534", "sudo -n true");
  expect(nobody.exitCode).not.toBe(0);
  expect(nobody.out).not.toMatch(SUDO_WITHOUT_ROOT);
  expect((await h.sh(ws, "sudo -n true && echo sudo-ok")).stdout).toBe("sudo-ok\n");
}

/** The checkpoint's three files, owned and writable by the workspace user (one more line each). */
async function expectFilesBack(ws: string): Promise<void> {
  const files = await h.sh(ws, `cat ${FILES}; for f in ${FILES}; do [ "$(stat -c %u $f)" = "$(id -u)" ] && [ -w $f ] && echo more >> $f && echo "$f ok"; done`);
  expect(files.stdout).toBe("kept\nkept\nkept\n/workspace/kept.txt ok\n/home/nexus/kept.txt ok\n/var/tmp/kept.txt ok\n");
  const onHost = join(h.s.workspaces.resolve(ws).mountPath, "kept.txt");
  expect(readFileSync(onHost, "utf8")).toBe("kept\nmore\n");
  expect(lstatSync(onHost).uid).toBe(process.getuid!());
  expect(lstatSync(onHost).mode & 0o6000).toBe(0);
}
