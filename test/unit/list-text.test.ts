// What `nexus list` prints for the daemon's answer (src/cli/commands/list.ts), as both of its paths
// (src/cli/instant.ts and the full command) print it.
import { describe, expect, test } from "bun:test";
import { listText, type WorkspaceList } from "../../src/cli/commands/list.ts";
import type { WorkspaceView } from "../../src/core/types.ts";

const now = new Date().toISOString();

function ws(over: Partial<WorkspaceView>): WorkspaceView {
  return {
    id: "id",
    name: "demo",
    displayName: "demo",
    status: "running",
    backend: "docker",
    branch: "nexus/demo",
    repository: null,
    worktreePath: "",
    ports: [],
    resources: {} as WorkspaceView["resources"],
    idleTimeoutSeconds: null,
    forwardAgent: false,
    labels: {},
    createdAt: now,
    updatedAt: now,
    lastActiveAt: now,
    ...over,
  };
}

describe("listText", () => {
  test("a table: the SSH port, the other ports as host→container, no LABELS column without labels", () => {
    const res: WorkspaceList = {
      workspaces: [
        ws({ ports: [{ name: "web", hostPort: 8080, containerPort: 3000 }, { name: "ssh", hostPort: 32800, containerPort: 22 }, { name: "db", hostPort: 5433, containerPort: 5432 }] as WorkspaceView["ports"] }),
        ws({ name: "second-one", status: "stopped", branch: "", ports: [] }),
      ],
    };
    const lines = listText(res, false, false).split("\n");
    expect(lines[0]).toMatch(/^NAME +STATUS +BRANCH +SSH +PORTS +CREATED$/);
    expect(lines[1]).toMatch(/^demo +running +nexus\/demo +32800 +8080→3000,5433→5432 +\d+s ago$/);
    expect(lines[2]).toMatch(/^second-one +stopped +- +- +- +\d+s ago$/);
    // Columns line up: each column starts at the same place on every line.
    expect(lines[1]!.indexOf("running")).toBe(lines[0]!.indexOf("STATUS"));
    expect(lines[2]!.indexOf("stopped")).toBe(lines[0]!.indexOf("STATUS"));
    expect(lines.at(-1)).toBe("");
  });

  test("LABELS when a workspace has labels; colour paints the header and the status only", () => {
    const res: WorkspaceList = { workspaces: [ws({ labels: { team: "a", ci: "1" } })] };
    const plain = listText(res, false, false);
    expect(plain.split("\n")[0]).toContain("LABELS");
    expect(plain.split("\n")[1]).toMatch(/team=a,ci=1$/);
    const painted = listText(res, false, true);
    expect(painted).toContain("\u001b[32mrunning\u001b[0m");
    expect(painted.replace(/\u001b\[[0-9;]*m/g, "")).toBe(plain);
  });

  test("--json: the API's answer; no workspace: the hint", () => {
    const res: WorkspaceList = { workspaces: [ws({})] };
    expect(JSON.parse(listText(res, true, false))).toEqual(res);
    expect(listText({ workspaces: [] }, false, false)).toBe("No workspaces. Create one with 'nexus create <name>' inside a git repository.\n");
  });
});
