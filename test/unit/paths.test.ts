// Where an installation's files live (src/store/paths.ts): the same paths node:path would join,
// whatever NEXUS_HOME looks like.
import { describe, expect, test } from "bun:test";
import { posix } from "node:path";
import { nexusPaths } from "../../src/store/paths.ts";

describe("nexusPaths", () => {
  test("each file is the one node:path joins under the home folder, for any NEXUS_HOME", () => {
    for (const home of ["/var/lib/nexus", "/", "/tmp//x/./y/", "relative/../home", "/a/b/../c"]) {
      const p = nexusPaths({ NEXUS_HOME: home, HOME: "/home/u" });
      const h = posix.resolve(home);
      expect(p.home).toBe(h);
      expect({ home, socket: p.daemonSocket, config: p.config, active: p.activeWorkspace, ws: p.workspaceDir("abc") }).toEqual({
        home,
        socket: posix.join(h, "daemon.sock"),
        config: posix.join(h, "config.yaml"),
        active: posix.join(h, "session", "active-workspace"),
        ws: posix.join(h, "workspaces", "abc"),
      });
    }
  });

  test("without NEXUS_HOME: ~/.nexus", () => {
    expect(nexusPaths({ HOME: "/home/u" }).daemonSocket).toBe("/home/u/.nexus/daemon.sock");
  });
});
