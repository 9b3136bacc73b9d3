// Pure parts of the workspace service: names, the create plan's port and resource rules, the container spec.
import { describe, expect, test } from "bun:test";
import { toCreateOptions } from "../../src/docker/create-options.ts";
import { LABELS } from "../../src/docker/labels.ts";
import { shortId, sshAlias, workspaceNames } from "../../src/core/workspace/names.ts";
import { extraProjectPorts, nameServicePorts, portMappings, recordPorts, sourceKind } from "../../src/core/workspace/plan.ts";
import { containerSpec, nanoCpus, oneOffSpec, workspaceFiles, workspaceLabels, WORKSPACE_DIR } from "../../src/core/workspace/spec.ts";
import { hostAlias } from "../../src/core/ssh-files.ts";
import { makeRecord } from "../helpers/records.ts";

describe("workspaceNames", () => {
  const n = workspaceNames("feat-x", "ws-0123456789ab");

  test("every name comes from the workspace's name and the short id", () => {
    expect(shortId("ws-0123456789ab")).toBe("012345");
    expect(n.branch).toBe("nexus/feat-x");
    expect(n.container).toBe("nexus-feat-x-012345");
    expect(n.homeVolume).toBe("nexus-feat-x-012345-home");
    expect(n.sshAlias).toBe("nexus-feat-x");
    expect(n.keyComment).toBe("nexus-feat-x");
    expect(n.worktreeDir("/src/repo")).toBe("/src/repo/.worktree/feat-x");
    expect(n.cloneDir("/home/u/.nexus")).toBe("/home/u/.nexus/repos/feat-x-012345");
  });

  test("the ssh_config alias is the same one everywhere", () => {
    expect(hostAlias("feat-x")).toBe(sshAlias("feat-x"));
    expect(n.sshAlias).toBe(sshAlias("feat-x"));
  });

  test("a new workspace of the same name gets new container and volume names", () => {
    const again = workspaceNames("feat-x", "ws-fedcba987654");
    expect(again.container).not.toBe(n.container);
    expect(again.homeVolume).not.toBe(n.homeVolume);
    expect(again.branch).toBe(n.branch);
  });
});

describe("create plan", () => {
  test("the source kind follows the input", () => {
    expect(sourceKind({})).toBe("worktree");
    expect(sourceKind({ noWorktree: true })).toBe("folder");
    expect(sourceKind({ repo: "https://example.invalid/r.git" })).toBe("clone");
  });

  test("the first host port is SSH's, the rest publish the container ports in order", () => {
    const ports = portMappings([40000, 40001, 40002], [3000, 5432]);
    expect(ports).toEqual({
      ssh: 40000,
      services: [
        { name: "port-3000", containerPort: 3000, hostPort: 40001 },
        { name: "port-5432", containerPort: 5432, hostPort: 40002 },
      ],
    });
    expect(recordPorts({ ports })).toEqual([40000, 40001, 40002]);
  });

  test("the project adds its ports and its services' ports once, never 22 or one already published", () => {
    const published = portMappings([1, 2], [3000]).services;
    const project = { ports: [3000, 22, 8080, 8080], services: [{ name: "db", port: 5432 }, { name: "worker" }, { name: "web", port: 8080 }] } as never;
    expect(extraProjectPorts(project, published)).toEqual([8080, 5432]);
  });

  test("published ports take the name of the service using them", () => {
    const ports = portMappings([1, 2, 3], [3000, 9999]).services;
    nameServicePorts(ports, { services: [{ name: "web", port: 3000 }] } as never);
    expect(ports.map((p) => p.name)).toEqual(["web", "port-9999"]);
  });
});

describe("container spec", () => {
  const r = makeRecord({
    name: "spec",
    id: "ws-aaaaaabbbbbb",
    containerName: "nexus-spec-aaaaaa",
    homeVolume: "nexus-spec-aaaaaa-home",
    mountPath: "/src/repo/.worktree/spec",
    repository: { path: "/src/repo", gitCommonDir: "/src/repo/.git", cloned: false },
    ports: { ssh: 40000, services: [{ name: "web", containerPort: 3000, hostPort: 40001 }] },
    resources: { cpu: 4, memoryBytes: 2 * 1024 ** 3 },
  });
  const labels = workspaceLabels(r, "inst1");
  const spec = containerSpec(r, labels, 2, { uid: 1000, gid: 1001 });

  test("labels say whose it is", () => {
    expect(labels).toEqual({ [LABELS.managed]: "true", [LABELS.instance]: "inst1", [LABELS.workspaceId]: r.id, [LABELS.workspaceName]: "spec" });
  });

  test("SSH and the recorded ports are published (the engine picks the address)", () => {
    expect(spec.publish).toEqual([
      { containerPort: 22, hostPort: 40000 },
      { containerPort: 3000, hostPort: 40001 },
    ]);
  });

  test("the worktree at /workspace, the home volume, and never the repository's git dir", () => {
    expect(spec.mounts).toEqual([
      { type: "bind", source: "/src/repo/.worktree/spec", target: WORKSPACE_DIR },
      { type: "volume", source: "nexus-spec-aaaaaa-home", target: "/home/nexus" },
    ]);
  });

  test("the workspace's own git mounts (git-sync/service.ts) come after them", () => {
    const own = { type: "bind" as const, source: "/home/u/.nexus/workspaces/x/git", target: "/src/repo/.git", readOnly: true };
    expect(containerSpec(r, {}, 2, { uid: 0, gid: 0 }, [own]).mounts).toEqual([...spec.mounts, own]);
    expect(toCreateOptions(containerSpec(r, {}, 2, { uid: 0, gid: 0 }, [own]), "127.0.0.1").HostConfig!.Mounts!.at(-1)).toEqual({ Type: "bind", Source: own.source, Target: own.target, ReadOnly: true });
  });

  test("CPU is capped at the engine's CPUs; memory, user ids, name and restart policy as recorded", () => {
    expect(spec.nanoCpus).toBe(2e9);
    expect(nanoCpus(0.5, 8)).toBe(5e8);
    expect(spec.memoryBytes).toBe(2 * 1024 ** 3);
    expect(spec.env).toEqual(["NEXUS_UID=1000", "NEXUS_GID=1001", "NEXUS_WORKSPACE=spec"]);
    expect(spec.name).toBe("nexus-spec-aaaaaa");
    expect(spec.restartUnlessStopped).toBe(true);
    expect(spec.init).toBe(true);
  });

  test("a post-stop hook's one-off container: same image and mounts, the user's ids, marked as a hook, nothing published", () => {
    const one = oneOffSpec(r, "inst1", { uid: 1000, gid: 1001 }, "echo hi", { A: "1" }, "abc123");
    expect(one.name).toBe("nexus-spec-aaaaaa-hook-abc123");
    expect(one.user).toBe("1000:1001");
    expect(one.labels[LABELS.role]).toBe("hook");
    expect(one.cmd).toEqual(["echo hi"]);
    expect(one.env).toEqual(["A=1", "HOME=/home/nexus", "USER=nexus"]);
    expect(one.mounts).toEqual(spec.mounts);
    expect(one.publish).toEqual([]);
    expect(one.restartUnlessStopped).toBeUndefined();
  });

  test("in Docker's words: ports bind on the engine's address only, mounts and limits carried over", () => {
    const o = toCreateOptions(spec, "127.0.0.1");
    expect(Object.keys(o.ExposedPorts!)).toEqual(["22/tcp", "3000/tcp"]);
    expect(o.HostConfig!.PortBindings).toEqual({
      "22/tcp": [{ HostIp: "127.0.0.1", HostPort: "40000" }],
      "3000/tcp": [{ HostIp: "127.0.0.1", HostPort: "40001" }],
    });
    expect(o.HostConfig!.Mounts![0]).toEqual({ Type: "bind", Source: "/src/repo/.worktree/spec", Target: WORKSPACE_DIR });
    expect(o.HostConfig).toMatchObject({ RestartPolicy: { Name: "unless-stopped" }, Init: true, NanoCpus: 2e9, Memory: 2 * 1024 ** 3 });
    expect(o).toMatchObject({ name: "nexus-spec-aaaaaa", Image: r.image, Hostname: "spec", Labels: labels });
    // Hardened as docker/hardening.ts says, the one-off container too.
    expect(o.HostConfig).toMatchObject({ CapDrop: ["MKNOD", "SETFCAP"], PidsLimit: spec.hardening!.pidsLimit });
    expect(o.HostConfig!.SecurityOpt).toContain("no-new-privileges:true");
    expect(toCreateOptions({ ...spec, hardening: { sudo: true, pidsLimit: 10 } }, "127.0.0.1").HostConfig!.SecurityOpt).not.toContain("no-new-privileges:true");
    const one = toCreateOptions(oneOffSpec(r, "inst1", { uid: 1, gid: 1 }, "x", {}, "s"), "127.0.0.1");
    expect(one.HostConfig!.PidsLimit).toBe(spec.hardening!.pidsLimit);
    expect(one.ExposedPorts).toBeUndefined();
    expect(one.HostConfig).toMatchObject({ NetworkMode: "bridge" });
    expect(one).toMatchObject({ User: "1:1", Entrypoint: ["/bin/bash", "-c"], WorkingDir: WORKSPACE_DIR });
  });

  test("files for the container: keys de-duplicated, env quoted, supervisor included", () => {
    const files = workspaceFiles({ privateKey: "PRIV", publicKey: "PUB" }, ["k1", "k2", "k1"], { A: "x y" });
    const byName = new Map(files.map((f) => [f.name, f]));
    expect(byName.get("etc/nexus/ssh/authorized_keys")!.content).toBe("k1\nk2\n");
    expect(byName.get("etc/environment")!.content).toBe('A="x y"\n');
    expect(byName.get("etc/nexus/ssh/ssh_host_ed25519_key")!.mode).toBe(0o600);
    expect([...byName.keys()].some((n) => n.startsWith("usr/local/lib/nexus/"))).toBe(true);
  });
});
