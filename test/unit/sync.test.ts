// File sync's pure parts: the `sync:` config, the debouncer, reading unison's output, the command
// lines for unison and mutagen, provider detection, the session's ssh files.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NexusError } from "../../src/kernel/errors.ts";
import { parseConfig } from "../../src/config/load.ts";
import { DEFAULT_SYNC_CONFIG, excludeRegex, syncConfigFrom, unisonIgnore } from "../../src/sync/config.ts";
import { debounce } from "../../src/sync/debounce.ts";
import { chooseProvider, findOnPath } from "../../src/sync/detect.ts";
import { mutagenArgs, mutagenCreateArgs, parseMutagenList } from "../../src/sync/mutagen.ts";
import { controlPath, sshConfigText } from "../../src/sync/ssh-files.ts";
import { checkRelativePath, remoteRoot, unisonArgs } from "../../src/sync/unison.ts";
import { parseUnisonOutput } from "../../src/sync/unison-output.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { setTimeout as sleep } from "node:timers/promises";

describe("sync: config", () => {
  test("defaults follow the spec's example", () => {
    expect(DEFAULT_SYNC_CONFIG).toEqual({
      provider: "auto",
      mode: "two-way-safe",
      exclude: ["node_modules", ".git", "build", "dist", "*.log", ".DS_Store"],
      strategy: "host-wins",
      watchMode: "auto",
      pollingIntervalMs: 500,
    });
  });
  test("the spec's full block parses; intervals become milliseconds", () => {
    const c = syncConfigFrom({
      provider: "mutagen",
      mode: "two-way-resolved",
      exclude: ["node_modules", "*.tmp"],
      conflict: { strategy: "workspace-wins" },
      watch: { mode: "poll", pollingInterval: "2s" },
      performance: { maxEntryCount: 50000, maxStagingSize: "10GB" },
      deployment: "hybrid",
    });
    expect(c).toEqual({ provider: "mutagen", mode: "two-way-resolved", exclude: ["node_modules", "*.tmp"], strategy: "workspace-wins", watchMode: "poll", pollingIntervalMs: 2000, maxEntryCount: 50000 });
  });
  test("bad values are refused with the allowed ones named", () => {
    expect(() => syncConfigFrom({ conflict: { strategy: "loudest-wins" } })).toThrow(/host-wins, workspace-wins, newer-wins, manual/);
    expect(() => syncConfigFrom({ mode: "sideways" })).toThrow(/two-way-safe/);
    expect(() => syncConfigFrom({ watch: { pollingInterval: "soon" } })).toThrow(/duration/);
    expect(() => syncConfigFrom({ watch: { pollingInterval: 0 } })).toThrow(/above zero/);
  });
  test("config.yaml's sync: block is checked at load, and its output gives the same session config", () => {
    expect(() => parseConfig("sync:\n  conflict:\n    strategy: loudest-wins\n", "/c.yaml")).toThrow(/sync.conflict.strategy/);
    const c = parseConfig("sync:\n  conflict:\n    strategy: manual\n  watch:\n    mode: poll\n    pollingInterval: 2s\n", "/c.yaml");
    expect(syncConfigFrom(c.sync)).toMatchObject({ strategy: "manual", watchMode: "poll", pollingIntervalMs: 2000 });
    expect(syncConfigFrom(parseConfig("", "/c.yaml").sync)).toEqual(DEFAULT_SYNC_CONFIG);
  });
  test("exclude patterns: a bare name matches at any depth, a path from the root", () => {
    expect(unisonIgnore("node_modules")).toBe("Name node_modules");
    expect(unisonIgnore("*.log")).toBe("Name *.log");
    expect(unisonIgnore("/build/out/")).toBe("Path build/out");
    const re = excludeRegex(["node_modules", "*.log", "build/out"])!;
    expect(re.test("node_modules")).toBe(true);
    expect(re.test("a/node_modules/x.js")).toBe(true);
    expect(re.test("x/debug.log")).toBe(true);
    expect(re.test("build/out/a")).toBe(true);
    expect(re.test("src/build/out/a")).toBe(false);
    expect(re.test("src/app.ts")).toBe(false);
    expect(re.test("logs.txt")).toBe(false);
    expect(excludeRegex([])).toBeUndefined();
  });
});

describe("sync: debounce", () => {
  test("a burst becomes one call, after the quiet time", async () => {
    let calls = 0;
    const d = debounce(() => calls++, 30);
    for (let i = 0; i < 10; i++) d.poke();
    expect(d.pending).toBe(true);
    expect(calls).toBe(0);
    await sleep(80);
    expect(calls).toBe(1);
    expect(d.pending).toBe(false);
  });
  test("a steady stream still fires by the max wait", async () => {
    let calls = 0;
    const d = debounce(() => calls++, 40, 100);
    const t0 = Date.now();
    while (Date.now() - t0 < 300 && calls === 0) {
      d.poke();
      await sleep(10);
    }
    expect(calls).toBe(1);
    d.cancel();
  });
  test("cancel drops the waiting call", async () => {
    let calls = 0;
    const d = debounce(() => calls++, 20);
    d.poke();
    d.cancel();
    await sleep(50);
    expect(calls).toBe(0);
  });
});

// Unison 2.52.1's text, as -batch prints it (progress lines redrawn with \r included).
const CONFLICT_SKIPPED = `Unison 2.52.1 (ocaml 4.13.1): Contacting server...
Looking for changes
Reconciling changes
changed  <-?-> changed    f.txt  
a            : changed file       modified on 2026-12-05 at 23:44:38  size 2         rw-r--r--
b            : changed file       modified on 2026-12-05 at 23:44:38  size 2         rw-r--r--
         <---- new file   f (conflict_on_2026-12-05).txt  
a            : absent
b            : new file           modified on 2026-12-05 at 23:44:38  size 2         rw-r--r--
deleted  <-?-> changed    src/gone.ts  
Propagating updates
[CONFLICT] Skipping f.txt
  contents changed on both sides
[BGN] Copying f (conflict_on_2026-12-05).txt from /tmp/ut/b to /tmp/ut/a
100%  00:00 ETA  \r               [END] Copying f (conflict_on_2026-12-05).txt
Synchronization complete at 23:44:38  (1 item transferred, 2 skipped, 0 failed)
  skipped: f.txt (contents changed on both sides)
  skipped: src/gone.ts (contents changed on one side, deleted on the other)
`;

describe("sync: unison output", () => {
  test("conflicts are the items changed on both sides; undecided ones were skipped", () => {
    const r = parseUnisonOutput(CONFLICT_SKIPPED);
    expect(r.items.map((i) => i.path)).toEqual(["f.txt", "f (conflict_on_2026-12-05).txt", "src/gone.ts"]);
    expect(r.conflicts).toEqual([
      { path: "f.txt", type: "edit-edit", alphaState: "modified", betaState: "modified", winner: null },
      { path: "src/gone.ts", type: "delete-edit", alphaState: "deleted", betaState: "modified", winner: null },
    ]);
    expect(r.skipped).toEqual(["f.txt", "src/gone.ts"]);
    expect(r.propagated).toEqual([{ path: "f (conflict_on_2026-12-05).txt", from: "/tmp/ut/b", to: "/tmp/ut/a" }]);
    expect(r.transferred).toBe(1);
    expect(r.fatal).toBeNull();
  });
  test("a conflict decided by -prefer names its winner", () => {
    const r = parseUnisonOutput("changed  ====> changed    a b.txt  \nnew file <==== new file   x/y  \n");
    expect(r.conflicts).toEqual([
      { path: "a b.txt", type: "edit-edit", alphaState: "modified", betaState: "modified", winner: "left" },
      { path: "x/y", type: "create-create", alphaState: "created", betaState: "created", winner: "right" },
    ]);
  });
  test("one-sided changes are no conflicts; nothing to do and fatal errors are seen", () => {
    const r = parseUnisonOutput("changed  ---->            a.txt  \n         <---- deleted    b.txt  \nNothing to do: replicas have not changed since last sync.\n");
    expect(r.conflicts).toEqual([]);
    expect(r.items).toHaveLength(2);
    expect(r.nothingToDo).toBe(true);
    expect(parseUnisonOutput("Fatal error: Lost connection with the server\n").fatal).toBe("Lost connection with the server");
    expect(parseUnisonOutput("  failed: x.bin (permission denied)\n").failed).toEqual([{ path: "x.bin", reason: "permission denied" }]);
  });
});

describe("sync: unison command line", () => {
  const base = { hostRoot: "/h/tree", remoteRoot: remoteRoot("/workspace"), sshCommand: "/n/sync/ws/ssh" };
  test("the remote root goes through the session's ssh alias", () => {
    expect(remoteRoot("/workspace")).toBe("ssh://nexus-sync//workspace");
  });
  test("strategies: -prefer the winner, always -copyonconflict; never -repeat", () => {
    const a = unisonArgs({ ...base, config: DEFAULT_SYNC_CONFIG });
    expect(a.slice(0, 3)).toEqual(["/h/tree", "ssh://nexus-sync//workspace", "-batch"]);
    expect(a).toContain("-copyonconflict");
    expect(a).not.toContain("-repeat");
    expect(a.join(" ")).toContain("-prefer /h/tree");
    expect(a.join(" ")).toContain("-sshcmd /n/sync/ws/ssh");
    expect(a.join(" ")).toContain("-ignore Name node_modules");
    expect(unisonArgs({ ...base, config: { ...DEFAULT_SYNC_CONFIG, strategy: "workspace-wins" } }).join(" ")).toContain("-prefer ssh://nexus-sync//workspace");
    expect(unisonArgs({ ...base, config: { ...DEFAULT_SYNC_CONFIG, strategy: "newer-wins" } }).join(" ")).toContain("-prefer newer");
    expect(unisonArgs({ ...base, config: { ...DEFAULT_SYNC_CONFIG, strategy: "manual" } })).not.toContain("-prefer");
  });
  test("modes: one-way keeps the worktree untouched", () => {
    expect(unisonArgs({ ...base, config: { ...DEFAULT_SYNC_CONFIG, mode: "one-way-replica" } }).join(" ")).toContain("-force /h/tree");
    const safe = unisonArgs({ ...base, config: { ...DEFAULT_SYNC_CONFIG, mode: "one-way-safe" } }).join(" ");
    expect(safe).toContain("-noupdate /h/tree");
    expect(safe).toContain("-nocreation /h/tree");
    expect(safe).not.toContain("-prefer");
  });
  test("resolving forces one path from the winner, with no copy", () => {
    const a = unisonArgs({ ...base, config: DEFAULT_SYNC_CONFIG, only: { paths: ["src/a.ts"], force: "workspace" } });
    expect(a.join(" ")).toContain("-path src/a.ts -force ssh://nexus-sync//workspace");
    expect(a).not.toContain("-copyonconflict");
    expect(a).not.toContain("-prefer");
  });
  test("a pass over the paths the watchers named: one -path each, strategy and copies as a full pass", () => {
    const a = unisonArgs({ ...base, config: DEFAULT_SYNC_CONFIG, paths: ["src/a.ts", "new dir/b c.txt"] });
    expect(a.join(" ")).toContain("-path src/a.ts -path new dir/b c.txt -copyonconflict");
    expect(a.join(" ")).toContain("-prefer /h/tree");
    expect(a).not.toContain("-force");
    expect(unisonArgs({ ...base, config: DEFAULT_SYNC_CONFIG })).not.toContain("-path");
  });
  test("after a checkpoint restore: a mirror of the worktree (it wins every difference), both archives set aside, excludes kept", () => {
    const a = unisonArgs({ ...base, config: DEFAULT_SYNC_CONFIG, mirror: true, paths: ["ignored.txt"] });
    expect(a.slice(-3)).toEqual(["-force", "/h/tree", "-ignorearchives"]);
    expect(a).not.toContain("-path");
    expect(a).not.toContain("-prefer");
    expect(a).not.toContain("-copyonconflict");
    expect(a.join(" ")).toContain("-ignore Name node_modules");
  });
  test("a conflict path must stay inside the tree", () => {
    expect(checkRelativePath("src/./a.ts")).toBe("src/a.ts");
    for (const bad of ["/etc/passwd", "../x", "a/../../x", "", "."]) expect(() => checkRelativePath(bad)).toThrow(/not a path inside/);
  });
});

describe("sync: mutagen command lines", () => {
  const state = { workspaceId: "ws-1", hostPath: "/h/tree", remotePath: "/workspace", config: { ...DEFAULT_SYNC_CONFIG, exclude: ["node_modules"] } };
  test("create names the session after the workspace and keeps conflicts (two-way-safe)", () => {
    expect(mutagenCreateArgs(state)).toEqual([
      "sync", "create", "--name", "nexus-ws-1", "--label", "nexus-workspace=ws-1", "--sync-mode", "two-way-safe",
      "--ignore", "node_modules", "--watch-mode", "portable", "--watch-polling-interval", "1", "/h/tree", "nexus-sync:/workspace",
    ]);
    expect(mutagenCreateArgs({ ...state, config: { ...state.config, mode: "one-way-replica", watchMode: "poll", pollingIntervalMs: 5000 } }).join(" ")).toContain("--sync-mode one-way-replica --ignore node_modules --watch-mode force-poll --watch-polling-interval 5");
  });
  test("pause, resume, flush, list, terminate", () => {
    expect(mutagenArgs.pause("ws-1")).toEqual(["sync", "pause", "nexus-ws-1"]);
    expect(mutagenArgs.resume("ws-1")).toEqual(["sync", "resume", "nexus-ws-1"]);
    expect(mutagenArgs.flush("ws-1")).toEqual(["sync", "flush", "nexus-ws-1"]);
    expect(mutagenArgs.terminate("ws-1")).toEqual(["sync", "terminate", "nexus-ws-1"]);
    expect(mutagenArgs.list("ws-1")).toEqual(["sync", "list", "--template", "{{json .}}", "nexus-ws-1"]);
  });
  test("list's JSON is read; garbage is no session", () => {
    expect(parseMutagenList('[{"identifier":"x","paused":true,"conflicts":[{"root":"a.txt"}]}]')).toMatchObject({ identifier: "x", paused: true });
    expect(parseMutagenList("Error: unable to locate requested sessions")).toBeUndefined();
  });
});

describe("sync: provider detection", () => {
  test("mutagen on PATH wins, else unison; sync.provider may insist; none is SYNC_PROVIDER_NOT_FOUND", async () => {
    await using t = tempDir("sync-path");
    const both = join(t.path, "both");
    const unisonOnly = join(t.path, "unison");
    for (const [dir, names] of [[both, ["mutagen", "unison"]], [unisonOnly, ["unison"]]] as const) {
      mkdirSync(dir, { recursive: true });
      for (const n of names) {
        writeFileSync(join(dir, n), "#!/bin/sh\n");
        chmodSync(join(dir, n), 0o755);
      }
    }
    expect(findOnPath("unison", `/nonexistent:${unisonOnly}`)).toBe(join(unisonOnly, "unison"));
    expect(chooseProvider({ provider: "auto" }, { PATH: both })).toEqual({ provider: "mutagen", binary: join(both, "mutagen") });
    expect(chooseProvider({ provider: "unison" }, { PATH: both })).toEqual({ provider: "unison", binary: join(both, "unison") });
    expect(chooseProvider({ provider: "auto" }, { PATH: unisonOnly })).toEqual({ provider: "unison", binary: join(unisonOnly, "unison") });
    const none = (() => {
      try {
        chooseProvider({ provider: "auto" }, { PATH: "/nonexistent" });
      } catch (e) {
        return e as NexusError;
      }
    })();
    expect(none?.code).toBe("SYNC_PROVIDER_NOT_FOUND");
    expect(none?.suggestion).toContain("apt-get install unison");
    expect(() => chooseProvider({ provider: "mutagen" }, { PATH: unisonOnly })).toThrow(/mutagen \(sync.provider\) is not installed/);
  });
});

describe("sync: ssh files", () => {
  test("the workspace's key and pinned host key, strict checking, one multiplexed connection", () => {
    const text = sshConfigText({ host: "127.0.0.1", port: 32801, user: "nexus", identityFile: "/n/id_ed25519", knownHosts: "/n/known_hosts", hostKeyAlias: "nexus-big" }, "/n/sync/ws");
    expect(text).toContain("Host nexus-sync\n  HostName 127.0.0.1\n  Port 32801\n  User nexus\n");
    expect(text).toContain('IdentityFile "/n/id_ed25519"');
    expect(text).toContain('UserKnownHostsFile "/n/known_hosts"');
    expect(text).toContain("HostKeyAlias nexus-big");
    expect(text).toContain("StrictHostKeyChecking yes");
    expect(text).toContain("ControlMaster auto");
  });
  test("a control socket path stays short", () => {
    expect(controlPath("/n/sync/ws")).toBe("/n/sync/ws/cm");
    expect(controlPath(`/${"x".repeat(120)}`).length).toBeLessThan(104);
  });
});
