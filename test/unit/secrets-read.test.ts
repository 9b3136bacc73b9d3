// Reading secrets on the host: dotenv files, and named secrets from real files, real commands and
// (where libsecret's secret-tool and gnome-keyring are installed) a real keyring on a private D-Bus.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { secretsFileText } from "../../src/core/workspace/secrets.ts";
import { parseDotenv } from "../../src/secrets/dotenv.ts";
import { keychainArgv, readNamedSecret, readSecrets } from "../../src/secrets/read.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { rejectionOf as rejection } from "../helpers/errors.ts";
import { runFileArgv } from "../helpers/runtime-argv.ts";

slowTests();

const secretsOf = (yaml: string) => parseConfig(yaml, "/c.yaml").secrets;

describe("dotenv", () => {
  test("KEY=value, export, comments, both quotes, escapes, multi-line double quotes; no expansion", () => {
    const text = [
      "# comment",
      "A=plain value   # trailing comment",
      "export B=two",
      "C='single $HOME \\n kept'",
      'D="double \\"q\\" \\n line"',
      "E=",
      'F="multi',
      'line"',
      "G=with#hash",
      "",
    ].join("\n");
    const { values, errors } = parseDotenv(text);
    expect(errors).toEqual([]);
    expect(values).toEqual({ A: "plain value", B: "two", C: "single $HOME \\n kept", D: 'double "q" \n line', E: "", F: "multi\nline", G: "with#hash" });
  });

  test("a line that is not KEY=value and an unclosed quote are errors with their line", () => {
    expect(parseDotenv("A=1\nnot a pair\n").errors).toEqual([{ line: 2, message: "expected KEY=value" }]);
    expect(parseDotenv("A='open\n").errors[0]!.line).toBe(1);
  });
});

describe("named secrets", () => {
  test("file: the value without its trailing newline; a missing or empty file is an error naming the secret", async () => {
    await using dir = tempDir("secrets");
    writeFileSync(join(dir.path, "db.txt"), "s3cr3t\n");
    writeFileSync(join(dir.path, "empty.txt"), "\n");
    mkdirSync(join(dir.path, "home"));
    writeFileSync(join(dir.path, "home", "tok"), "from-home");
    const s = secretsOf(`secrets:\n  named:\n    DB:\n      source: file\n      path: ${dir.path}/db.txt\n    H:\n      source: file\n      path: ~/tok\n`);
    expect(await readSecrets(s, { home: join(dir.path, "home") })).toEqual({ DB: "s3cr3t", H: "from-home" });
    const missing = await rejection(readNamedSecret("DB", { source: "file", path: join(dir.path, "nope") }, { home: dir.path }));
    expect(missing.code).toBe("INVALID_ARGUMENT");
    expect(missing.message).toContain("Secret DB");
    expect(missing.message).toContain("does not exist");
    expect(missing.details).toMatchObject({ secret: "DB" });
    const empty = await rejection(readNamedSecret("E", { source: "file", path: join(dir.path, "empty.txt") }, { home: dir.path }));
    expect(empty.message).toContain("Secret E");
    expect(empty.message).toContain("empty");
  });

  test("command: runs on the host as this user; its output is the value; a failing command is an error naming the secret", async () => {
    await using dir = tempDir("secrets");
    const script = join(dir.path, "pass");
    writeFileSync(script, '#!/bin/sh\n[ "$1" = show ] && [ "$2" = npm ] && { printf "npm_%s\\n" "$(id -u)"; exit 0; }\necho "Error: $2 is not in the password store." >&2\nexit 1\n');
    chmodSync(script, 0o755);
    expect(await readNamedSecret("NPM", { source: "command", command: `${script} show npm` }, { home: dir.path })).toBe(`npm_${process.getuid!()}`);
    const e = await rejection(readNamedSecret("GH", { source: "command", command: `${script} show gh` }, { home: dir.path }));
    expect(e.message).toContain("Secret GH");
    expect(e.message).toContain("exited 1");
    expect(e.message).toContain("gh is not in the password store");
    const slow = await rejection(readNamedSecret("SLOW", { source: "command", command: "sleep 5" }, { home: dir.path, timeoutMs: 300 }));
    expect(slow.message).toContain("longer than");
  });

  test("keychain: security on macOS, secret-tool elsewhere, argv built without a shell", () => {
    expect(keychainArgv("darwin", "npm", "auth-token")).toEqual(["security", "find-generic-password", "-s", "npm", "-a", "auth-token", "-w"]);
    expect(keychainArgv("linux", "npm", "a b; rm -rf /")).toEqual(["secret-tool", "lookup", "service", "npm", "account", "a b; rm -rf /"]);
  });

  const haveKeyring = spawnSync("sh", ["-c", "command -v secret-tool && command -v gnome-keyring-daemon && command -v dbus-run-session"]).status === 0;
  test.skipIf(!haveKeyring)("keychain: a real item in gnome-keyring on a private D-Bus session, through secret-tool", async () => {
    await using dir = tempDir("secrets");
    // A child bun process inside dbus-run-session, so the lookup talks to this test's own keyring only.
    const reader = join(dir.path, "read.ts");
    writeFileSync(
      reader,
      `import { readNamedSecret } from ${JSON.stringify(join(import.meta.dirname, "../../src/secrets/read.ts"))};\n` +
        `const ok = await readNamedSecret("NPM_TOKEN", { source: "keychain", service: "npm", account: "auth-token" }, { home: "/" });\n` +
        `let missing = "";\ntry { await readNamedSecret("GONE", { source: "keychain", service: "npm", account: "nobody" }, { home: "/" }); } catch (e) { missing = (e as Error).message; }\n` +
        `console.log(JSON.stringify({ ok, missing }));\n`,
    );
    const script = [
      "set -e",
      // An unlocked login keyring with an empty password, in this test's own XDG dirs.
      `eval "$(printf '\\n' | gnome-keyring-daemon --unlock --components=secrets)"`,
      "printf 'tok-123' | secret-tool store --label='npm token' service npm account auth-token",
      `exec ${runFileArgv(reader).flat().map((w) => JSON.stringify(w)).join(" ")}`,
    ].join("\n");
    const r = spawnSync("dbus-run-session", ["--", "sh", "-c", script], {
      encoding: "utf8",
      timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: dir.path, XDG_DATA_HOME: join(dir.path, "data"), XDG_RUNTIME_DIR: dir.path, XDG_CONFIG_HOME: join(dir.path, "config") },
    });
    expect(r.stderr).not.toContain("error:");
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    expect(out.ok).toBe("tok-123");
    expect(out.missing).toContain("Secret GONE");
    expect(out.missing).toContain("secret-tool lookup service npm account nobody exited 1");
  });
});

describe("env_files", () => {
  test("are read in order, named secrets win; a missing file or a bad line is an error naming the file (and line)", async () => {
    await using dir = tempDir("secrets");
    writeFileSync(join(dir.path, "a.env"), "A=1\nSHARED=from-a\n");
    writeFileSync(join(dir.path, "b.env"), "SHARED=from-b\nTOKEN=file\n");
    writeFileSync(join(dir.path, "tok"), "named\n");
    const s = secretsOf(`secrets:\n  env_files: [${dir.path}/a.env, ${dir.path}/b.env]\n  named:\n    TOKEN:\n      source: file\n      path: ${dir.path}/tok\n`);
    expect(await readSecrets(s, { home: dir.path })).toEqual({ A: "1", SHARED: "from-b", TOKEN: "named" });
    const missing = await rejection(readSecrets(secretsOf(`secrets:\n  env_files: [${dir.path}/none.env]\n`), { home: dir.path }));
    expect(missing.message).toContain(`${dir.path}/none.env`);
    writeFileSync(join(dir.path, "bad.env"), "A=1\noops\n");
    const bad = await rejection(readSecrets(secretsOf(`secrets:\n  env_files: [${dir.path}/bad.env]\n`), { home: dir.path }));
    expect(bad.message).toContain(`${dir.path}/bad.env:2`);
  });

  test("a value with a line break is refused, naming the secret (pam_env cannot carry it)", () => {
    expect(() => secretsFileText({ KEY: "a\nb" })).toThrow(/Secret KEY holds a line break/);
    expect(secretsFileText({ A: "x y $Z \"q\"" })).toBe('A="x y $Z "q""\n');
  });
});

describe("in the container", () => {
  test("the container spec carries the tmpfs, never a secret; the ssh drop-in holds paths only", async () => {
    const { secretsMountPoint, secretsTmpfs, sshConfigDropIn, writeScript } = await import("../../src/core/workspace/secrets.ts");
    expect(secretsTmpfs(1000, 1000)).toEqual({ "/run/nexus/secrets": "rw,nosuid,nodev,noexec,size=1m,mode=0700,uid=1000,gid=1000" });
    // The folder beneath it, 0700 and the same owner: runc gives the tmpfs that folder's mode at every start.
    expect(secretsMountPoint(1000, 1000)).toEqual({ name: "run/nexus/secrets", type: "dir", mode: 0o700, uid: 1000, gid: 1000 });
    const dropIn = sshConfigDropIn();
    expect(dropIn.name).toBe("etc/ssh/ssh_config.d/nexus-secrets.conf");
    expect(String(dropIn.content)).toContain("IdentityFile /run/nexus/secrets/ssh/id_ed25519");
    expect(String(dropIn.content)).toContain("IdentityFile ~/.ssh/id_ed25519\n"); // ssh's defaults stay
    // Written only onto the tmpfs (refused, exit 3, where there is none), content on stdin, atomically.
    const script = writeScript("/run/nexus/secrets", "env");
    expect(script).toContain("grep -qs ' /run/nexus/secrets tmpfs ' /proc/mounts || {");
    expect(script).toContain("chmod 0700 /run/nexus/secrets && umask 077 && mkdir -p /run/nexus/secrets && cat > /run/nexus/secrets/.new && mv -f /run/nexus/secrets/.new /run/nexus/secrets/env");
  });
});
