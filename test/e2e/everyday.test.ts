// The everyday path through the compiled binary, as a user lives it (issue 10): a root host gets a
// workspace it can write to, exec forwards stdin (and -it gives a terminal), git knows who you are.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeRepo, tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { nexusRunner, requireE2E, tearDown } from "../helpers/cli.ts";
import { until } from "../helpers/wait.ts";

slowTests();

const root = tempDir("everyday");
const home = join(root.path, "nexus");
const repo = makeRepo(join(root.path, "repo"));
const worktree = join(repo, ".worktree", "ev");
// The host user's home, with a gitconfig whose identity (and only that) reaches the workspace.
const userHome = join(root.path, "home");
mkdirSync(userHome);
writeFileSync(join(userHome, ".gitconfig"), '[user]\n\tname = Host \\"Q\\" Person\n\temail = host@example.com\n[init]\n\tdefaultBranch = trunk\n[alias]\n\tsecret = log\n');

const nexus = nexusRunner({ home, cwd: repo, env: { HOME: userHome } });

beforeAll(() => {
  requireE2E();
  const r = nexus(["create", "ev"]);
  if (r.code !== 0) throw new Error(`create failed: ${r.stderr}`);
}, 900_000);

afterAll(() => tearDown(nexus, root, ["ev"]));

describe("files made inside belong to the host user (root hosts too)", () => {
  const uid = process.getuid!();
  const gid = process.getgid!();

  test("the workspace user can append to worktree files, and what it makes is the host user's", () => {
    writeFileSync(join(worktree, "notes.txt"), "from the host\n");
    const r = nexus(["exec", "ev", "--", "sh", "-c", "echo x >> notes.txt && echo y > made-inside.txt && mkdir -p dir && touch dir/f && id -u"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(String(uid));
    for (const f of ["notes.txt", "made-inside.txt", "dir", "dir/f"]) {
      const st = statSync(join(worktree, f));
      expect({ f, uid: st.uid, gid: st.gid }).toEqual({ f, uid, gid });
    }
  });

  test("git commit works inside, and its objects are the host user's", () => {
    const r = nexus(["exec", "ev", "--", "sh", "-c", "git add notes.txt made-inside.txt && git -c user.name=T -c user.email=t@example.com commit -qm inside && git log -1 --format=%s"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("inside");
    const head = spawnSync("git", ["-C", worktree, "log", "-1", "--format=%s"], { encoding: "utf8" }).stdout.trim();
    expect(head).toBe("inside");
    // The index and refs git just wrote inside can be written by the host user's git afterwards.
    const objects = spawnSync("find", [join(repo, ".git"), "-newer", join(worktree, "notes.txt"), "!", "-uid", String(uid)], { encoding: "utf8" }).stdout.trim();
    expect(objects).toBe("");
    expect(spawnSync("git", ["-C", worktree, "commit", "--allow-empty", "-qm", "host"], { encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "h", GIT_AUTHOR_EMAIL: "h@x", GIT_COMMITTER_NAME: "h", GIT_COMMITTER_EMAIL: "h@x" } }).status).toBe(0);
  });

  test("ssh with the system client logs in as nexus (key only)", () => {
    // Like ssh, the words after -- are one shell line run by the login shell.
    const r = nexus(["workspace", "ssh", "ev", "--", "echo $USER:$(id -u)"]);
    expect(r.stdout.trim()).toBe(`nexus:${uid}`);
  });

  test("doctor says which uid the workspace user takes", () => {
    const r = nexus(["doctor", "--json"]);
    const check = (JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string; message: string }> }).checks.find((c) => c.name === "workspace-user");
    expect(check?.status).toBe("ok");
    expect(check?.message).toContain(uid === 0 ? "uid 0" : `uid ${uid}`);
  });
});

describe("exec and standard input", () => {
  test("piped stdin reaches the command, which sees its end", () => {
    expect(nexus(["exec", "ev", "--", "wc", "-l"], { input: "x\n" }).stdout.trim()).toBe("1");
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i}`).join("\n") + "\n";
    const r = nexus(["exec", "ev", "--", "sh", "-c", "sha256sum | cut -d' ' -f1"], { input: lines });
    const want = createHash("sha256").update(lines).digest("hex");
    expect(r.stdout.trim()).toBe(want);
  });

  test("a command reading stdin never hangs: /dev/null, and no stdin at all", async () => {
    expect((await nexus.within(["exec", "ev", "--", "cat"], 30_000)).code).toBe(0);
    const devnull = await new Promise<number>((resolve, reject) => {
      const child = spawn("sh", ["-c", `${nexus.line(["exec", "ev", "--", "cat"])} </dev/null`], { cwd: repo, env: nexus.env(), stdio: "ignore" });
      const t = setTimeout(() => (child.kill("SIGKILL"), reject(new Error("exec with </dev/null hung"))), 30_000);
      child.on("exit", (c) => (clearTimeout(t), resolve(c ?? -1)));
    });
    expect(devnull).toBe(0);
  });

  test("stdin streams: the command answers a line while the input is still open", async () => {
    const child = nexus.spawn(["exec", "ev", "--", "sh", "-c", "while read l; do echo got-$l; done"]);
    let stdout = "";
    child.stdout!.on("data", (b) => (stdout += b));
    child.stdin!.write("one\n");
    await until("the command answers the first line", () => stdout, (out) => out.includes("got-one"), 30_000);
    child.stdin!.write("two\n");
    child.stdin!.end();
    const code = await new Promise<number>((r) => child.on("exit", (c) => r(c ?? -1)));
    expect(code).toBe(0);
    expect(stdout).toBe("got-one\ngot-two\n");
  }, 90_000);

  test("-it gives the command a terminal of our size and forwards keys; exit code comes back", () => {
    const script = `stty cols 91 rows 27; ${nexus.line(["exec", "-it", "ev", "--", "bash", "--norc", "-i"])}`;
    const feed = "sleep 2; printf 'echo size-$(stty size) tty-$(tty | cut -c1-8)\\n'; sleep 2; printf 'exit 4\\n'; sleep 1";
    const r = spawnSync("sh", ["-c", `(${feed}) | script -qec "${script}" /dev/null`], { cwd: repo, env: nexus.env(), encoding: "utf8", timeout: 60_000 });
    expect(r.stdout).toContain("size-27 91 tty-/dev/pts");
    expect(r.status).toBe(4);
  }, 90_000);

  test("REST exec with cat returns at once; 'stdin' gives it input", async () => {
    const call = (body: object) =>
      new Promise<string>((resolve, reject) => {
        const c = spawn("curl", ["-s", "--max-time", "30", "--unix-socket", join(home, "daemon.sock"), "-X", "POST", "-H", "content-type: application/json", "-d", JSON.stringify(body), "http://nexus/api/v1/workspaces/ev/exec"]);
        let out = "";
        c.stdout.on("data", (b) => (out += b));
        c.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`curl exited ${code}`))));
      });
    expect(JSON.parse(await call({ command: "cat" }))).toEqual({ exitCode: 0, stdout: "", stderr: "" });
    expect(JSON.parse(await call({ command: "wc", args: ["-c"], stdin: "hello" }))).toMatchObject({ exitCode: 0, stdout: "5\n" });
    expect(JSON.parse(await call({ command: "cat", stdin: Buffer.from([0, 1, 2, 255]).toString("base64"), stdinEncoding: "base64" }))).toMatchObject({ exitCode: 0 });
  });
});

describe("git identity and an editor", () => {
  test("the host's user.name, user.email and init.defaultBranch are carried in, the rest of its gitconfig is not", () => {
    const r = nexus(["exec", "ev", "--", "sh", "-c", "git config user.name; git config user.email; git config alias.secret || echo no-alias; git init -q /tmp/fresh && git -C /tmp/fresh symbolic-ref HEAD"]);
    expect(r.stdout).toBe('Host "Q" Person\nhost@example.com\nno-alias\nrefs/heads/trunk\n');
  });

  test("git commit works without any -c, with the host's identity", () => {
    const r = nexus(["exec", "ev", "--", "sh", "-c", "git commit -q --allow-empty -m plain && git log -1 --format='%an <%ae>'"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe('Host "Q" Person <host@example.com>');
  });

  test("an editor is there and EDITOR names it", () => {
    const r = nexus(["exec", "ev", "--", "sh", "-c", 'echo "$EDITOR" && command -v "$EDITOR"']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^vi\n\/usr\/bin\/vi\n$/);
  });
});

describe("a paused workspace resumes for what needs it running", () => {
  test("exec on a paused workspace resumes it, says so on stderr, and runs", () => {
    expect(nexus(["pause", "ev"]).code).toBe(0);
    expect(JSON.parse(nexus(["status", "ev", "--json"]).stdout).status).toBe("paused");
    const r = nexus(["exec", "ev", "--", "echo", "hi"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("hi\n");
    expect(r.stderr).toMatch(/^nexus: resumed the paused workspace ev \(\d+ ms\)\n$/);
    expect(JSON.parse(nexus(["status", "ev", "--json"]).stdout).status).toBe("running");
    // Running already: nothing to say.
    expect(nexus(["exec", "ev", "--", "true"]).stderr).toBe("");
  });

  test("--json carries 'resumed'; REST exec, hooks and stdin-fed exec resume too", async () => {
    nexus(["pause", "ev"]);
    const j = JSON.parse(nexus(["exec", "ev", "--json", "--", "echo", "x"]).stdout);
    expect(j).toMatchObject({ exitCode: 0, stdout: "x\n" });
    expect(typeof j.resumed.durationMs).toBe("number");
    nexus(["pause", "ev"]);
    expect(nexus(["exec", "ev", "--", "wc", "-l"], { input: "a\nb\n" }).stdout.trim()).toBe("2");
    nexus(["pause", "ev"]);
    const rest = spawnSync("curl", ["-s", "--max-time", "30", "--unix-socket", join(home, "daemon.sock"), "-X", "POST", "-d", '{"command":"true"}', "http://nexus/api/v1/workspaces/ev/exec"], { encoding: "utf8" });
    expect(JSON.parse(rest.stdout)).toMatchObject({ exitCode: 0, resumed: { durationMs: expect.any(Number) } });
  });
});

describe("restart", () => {
  test("an invalid .nexus/workspace.yaml is refused before anything stops", () => {
    const marker = nexus(["exec", "ev", "--", "sh", "-c", "nohup sleep 4242 >/dev/null 2>&1 & echo started"]);
    expect(marker.stdout).toBe("started\n");
    mkdirSync(join(worktree, ".nexus"), { recursive: true });
    writeFileSync(join(worktree, ".nexus", "workspace.yaml"), "services:\n  web:\n    prot: 3000\n");
    try {
      const r = nexus(["restart", "ev"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("workspace.yaml");
      expect(r.stderr).toContain("prot");
      expect(JSON.parse(nexus(["status", "ev", "--json"]).stdout).status).toBe("running");
      // Nothing was stopped: the process started before is still there.
      expect(nexus(["exec", "ev", "--", "pgrep", "-f", "sleep 4242"]).code).toBe(0);
    } finally {
      rmSync(join(worktree, ".nexus"), { recursive: true, force: true });
    }
  });
});
