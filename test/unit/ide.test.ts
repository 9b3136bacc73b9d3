// IDE launch plans (core/ide/launch.ts) and the recommendations file (core/ide/extensions.ts):
// the exact command lines and URIs, since no IDE runs here.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { extensionsFiles } from "../../src/core/ide/extensions.ts";
import { launchPlan } from "../../src/core/ide/launch.ts";
import { NexusError } from "../../src/kernel/errors.ts";

const T = { alias: "nexus-feature-auth", host: "127.0.0.1", port: 32801, user: "nexus", folder: "/workspace" };
const has = (...cmds: string[]) => ({ platform: "linux", onPath: (c: string) => cmds.includes(c) });

describe("launchPlan", () => {
  test("VS Code: code --remote when code is on PATH", () => {
    expect(launchPlan("vscode", T, has("code", "xdg-open"))).toEqual({ ide: "vscode", argv: ["code", "--remote", "ssh-remote+nexus-feature-auth", "/workspace"], usesSshConfig: true });
  });

  test("VS Code without code: the vscode:// URI through xdg-open (Linux) or open (macOS)", () => {
    const uri = "vscode://vscode-remote/ssh-remote+nexus-feature-auth/workspace";
    expect(launchPlan("vscode", T, has("xdg-open"))).toEqual({ ide: "vscode", argv: ["xdg-open", uri], uri, usesSshConfig: true });
    expect(launchPlan("vscode", T, { platform: "darwin", onPath: (c) => c === "open" }).argv).toEqual(["open", uri]);
  });

  test("the VS Code family under their own names", () => {
    expect(launchPlan("cursor", T, has("cursor")).argv).toEqual(["cursor", "--remote", "ssh-remote+nexus-feature-auth", "/workspace"]);
    expect(launchPlan("cursor", T, has("xdg-open")).uri).toBe("cursor://vscode-remote/ssh-remote+nexus-feature-auth/workspace");
    expect(launchPlan("vscode-insiders", T, has("code-insiders")).argv[0]).toBe("code-insiders");
    expect(launchPlan("vscode-insiders", T, has("xdg-open")).uri).toBe("vscode-insiders://vscode-remote/ssh-remote+nexus-feature-auth/workspace");
    expect(launchPlan("windsurf", T, has("windsurf")).argv).toEqual(["windsurf", "--remote", "ssh-remote+nexus-feature-auth", "/workspace"]);
  });

  test("Zed: an ssh:// URL by the alias; without zed on PATH a clear error", () => {
    expect(launchPlan("zed", T, has("zed"))).toEqual({ ide: "zed", argv: ["zed", "ssh://nexus-feature-auth/workspace"], usesSshConfig: true });
    expect(() => launchPlan("zed", T, has("xdg-open"))).toThrow("Zed's 'zed' command is not on PATH");
  });

  test("JetBrains Gateway: its connect URI with the address (its SSH client does not read ProxyCommand)", () => {
    const p = launchPlan("jetbrains", T, has("xdg-open"));
    expect(p.uri).toBe("jetbrains-gateway://connect#type=ssh&deploy=false&host=127.0.0.1&port=32801&user=nexus&projectPath=%2Fworkspace");
    expect(p).toMatchObject({ argv: ["xdg-open", p.uri], usesSshConfig: false });
  });

  test("nothing to open with: INVALID_ARGUMENT carrying the URI", () => {
    let err: unknown;
    try {
      launchPlan("vscode", T, has());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NexusError);
    expect((err as NexusError).message).toBe("Cannot open vscode: its launcher is not on PATH and neither is 'xdg-open' to open vscode://vscode-remote/ssh-remote+nexus-feature-auth/workspace");
    expect((err as NexusError).details).toEqual({ uri: "vscode://vscode-remote/ssh-remote+nexus-feature-auth/workspace" });
  });
});

describe("extensionsFiles", () => {
  test("~/.vscode/extensions.json owned by the container user; nothing for an empty list", () => {
    const files = extensionsFiles(["dbaeumer.vscode-eslint", "bradlc.vscode-tailwindcss"], { uid: 1000, gid: 1001 });
    expect(files.map((f) => [f.name, f.type ?? "file", f.uid, f.gid, f.mode])).toEqual([
      ["home/nexus/.vscode", "dir", 1000, 1001, 0o755],
      ["home/nexus/.vscode/extensions.json", "file", 1000, 1001, 0o644],
    ]);
    expect(JSON.parse(String(files[1]!.content))).toEqual({ recommendations: ["dbaeumer.vscode-eslint", "bradlc.vscode-tailwindcss"] });
    expect(extensionsFiles([], { uid: 0, gid: 0 })).toEqual([]);
  });
});

describe("the ide: config", () => {
  test("the spec's example parses; defaults are vscode and no extensions", () => {
    expect(parseConfig("ide:\n  default: vscode\n  extensions:\n    - dbaeumer.vscode-eslint\n    - bradlc.vscode-tailwindcss\n", "c.yaml").ide).toEqual({ default: "vscode", extensions: ["dbaeumer.vscode-eslint", "bradlc.vscode-tailwindcss"] });
    expect(parseConfig("", "c.yaml").ide).toEqual({ default: "vscode", extensions: [] });
  });

  test("an unknown IDE, a bad extension id or an unknown key is refused, naming the key", () => {
    expect(() => parseConfig("ide:\n  default: emacs\n", "c.yaml")).toThrow("expected one of vscode, vscode-insiders, cursor, windsurf, zed, jetbrains");
    expect(() => parseConfig("ide:\n  extensions: [eslint]\n", "c.yaml")).toThrow("expected an extension id such as dbaeumer.vscode-eslint");
    expect(() => parseConfig("ide:\n  defualt: vscode\n", "c.yaml")).toThrow("defualt");
  });
});
