// nexus cp through the compiled binary and a real workspace: files and folders both ways, to /etc and
// ~ (owned by the container user), tar on stdin/stdout, a hostile tar from the workspace refused with
// nothing written, unknown workspace and path, a paused workspace resumed first.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, tearDown } from "../helpers/cli.ts";

slowTests();

const root = tempDir("cp");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const local = join(root.path, "local");
// In the local folder; stdin /dev/null unless a tar is fed; output as bytes (tar streams).
const run = nexusRunner({ home, cwd: local, stdin: "ignore" });

const nexus = (args: string[], input?: Buffer) => run.bytes(args, input ? { input, stdin: "pipe" } : {});
const inside = (script: string) => nexus(["exec", "cp1", "--", "sh", "-c", script]).stdout.toString();

beforeAll(() => {
  requireE2E();
  mkdirSync(local, { recursive: true });
  const r = run(["create", "cp1"], { cwd: repo });
  if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`);
}, 900_000);

afterAll(() => tearDown(run, root, ["cp1"]));

describe("nexus cp", () => {
  test("a file to /etc and back: content, mode, and the container user owns it", () => {
    writeFileSync(join(local, "app.conf"), "key=value\n", { mode: 0o640 });
    const up = nexus(["cp", "app.conf", "cp1:/etc/app.conf"]);
    expect(up.stderr).toBe("");
    expect(up.stdout.toString()).toBe("Copied app.conf to cp1:/etc/app.conf (1 entry, 10 bytes)\n");
    expect(inside("cat /etc/app.conf; stat -c '%a %u:%g' /etc/app.conf; id -u; id -g")).toBe(`key=value\n640 ${inside("id -u").trim()}:${inside("id -g").trim()}\n${inside("id -u")}${inside("id -g")}`);
    const down = nexus(["cp", "cp1:/etc/app.conf", "back.conf"]);
    expect(down.code).toBe(0);
    expect(readFileSync(join(local, "back.conf"), "utf8")).toBe("key=value\n");
    expect(lstatSync(join(local, "back.conf")).mode & 0o777).toBe(0o640);
    // Into an existing folder: under its own name.
    mkdirSync(join(local, "into"));
    expect(nexus(["cp", "cp1:/etc/hostname", "into"]).code).toBe(0);
    expect(readFileSync(join(local, "into", "hostname"), "utf8").length).toBeGreaterThan(0);
  });

  test("a folder to ~ and back, with a link inside it kept as a link", () => {
    const dir = join(local, "dots");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "a.txt"), "A");
    writeFileSync(join(dir, "sub", "b.txt"), "B".repeat(2_000_000));
    symlinkSync("sub/b.txt", join(dir, "link"));
    expect(nexus(["cp", "dots", "cp1:~/"]).code).toBe(0);
    expect(inside("cd ~/dots && cat a.txt && wc -c < sub/b.txt && readlink link && stat -c %u sub/b.txt")).toBe(`A2000000\nsub/b.txt\n${inside("id -u")}`);
    const down = nexus(["cp", "--json", "cp1:~/dots", "dots-back"]);
    expect(JSON.parse(down.stdout.toString())).toMatchObject({ from: "cp1:~/dots", to: join(local, "dots-back"), entries: 5, bytes: 2_000_001 });
    expect(readdirSync(join(local, "dots-back")).sort()).toEqual(["a.txt", "link", "sub"]);
    expect(readFileSync(join(local, "dots-back", "sub", "b.txt"), "utf8")).toBe("B".repeat(2_000_000));
    expect(readlinkSync(join(local, "dots-back", "link"))).toBe("sub/b.txt");
  });

  test("'-' is a tar on stdout and on stdin", () => {
    const tar = nexus(["cp", "cp1:/etc/app.conf", "-"]);
    expect(tar.code).toBe(0);
    expect(tar.stdout.subarray(0, 8).toString()).toBe("app.conf");
    expect(nexus(["cp", "-", "cp1:/tmp"], tar.stdout).code).toBe(0);
    expect(inside("cat /tmp/app.conf")).toBe("key=value\n");
  });

  test("a symlink planted in the workspace cannot lead the copy out of the destination; nothing is written", () => {
    inside("mkdir -p ~/evil && ln -sfn /etc ~/evil/escape && ln -sfn ../../outside ~/evil/up && echo x > ~/evil/plain");
    const r = nexus(["cp", "cp1:~/evil", "evil"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Refused the copy: the archive entry 'evil\/(escape|up)' is unsafe \(it is a symlink to '(\/etc|\.\.\/\.\.\/outside)', outside the copied tree\); nothing was written/);
    expect(existsSync(join(local, "evil"))).toBe(false);
    expect(readdirSync(local).filter((n) => n.startsWith(".nexus-cp-"))).toEqual([]);
  });

  test("errors: unknown workspace (4), unknown path (4), missing local parent, both sides local (2)", () => {
    expect(nexus(["cp", "nope:/etc/hosts", "x"]).code).toBe(4);
    const missing = nexus(["cp", "cp1:/etc/nothing-here", "x"]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain("No file or folder /etc/nothing-here in workspace 'cp1'");
    const noParent = nexus(["cp", "app.conf", "cp1:/no/such/dir/x"]);
    expect(noParent.code).toBe(4);
    expect(noParent.stderr).toContain("No folder /no/such/dir in workspace 'cp1'");
    expect(nexus(["cp", "cp1:/etc/hosts", "no-such-dir/x"]).code).toBe(4);
    expect(nexus(["cp", "a", "b"]).code).toBe(2);
  });

  test("with no daemon running, cp starts it as other commands do", () => {
    expect(nexus(["daemon", "stop"]).code).toBe(0);
    const r = nexus(["cp", "cp1:/etc/app.conf", "after-restart.conf"]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(local, "after-restart.conf"), "utf8")).toBe("key=value\n");
  });

  test("a paused workspace is resumed first", () => {
    expect(nexus(["pause", "cp1"]).code).toBe(0);
    const r = nexus(["cp", "cp1:/etc/app.conf", "after-pause.conf"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^nexus: resumed the paused workspace cp1 \(\d+ ms\)\n$/);
    expect(readFileSync(join(local, "after-pause.conf"), "utf8")).toBe("key=value\n");
  });
});
