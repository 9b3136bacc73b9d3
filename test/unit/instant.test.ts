// `nexus version` and `nexus list` on their shortest path (src/cli/instant.ts), in a fresh process
// of the runtime running the tests, against a stand-in daemon on NEXUS_HOME's socket that writes the
// answer each test gives: what they print from it, and that anything but the expected answer leaves
// the command to the full path (undefined) with nothing printed. Under Bun the request goes over
// Bun's own socket (unixAnswer), under Deno over fetch: both must answer alike.
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { listText } from "../../src/cli/commands/list.ts";
import { versionText } from "../../src/cli/commands/version-text.ts";
import { buildId, buildInfo } from "../../src/version.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { standInDaemon } from "../helpers/stand-in-daemon.ts";
import { evalArgv } from "../helpers/runtime-argv.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const INSTANT = join(import.meta.dirname, "../../src/cli/instant.ts");
const STDIO = join(import.meta.dirname, "../../src/runtime/stdio.ts");

/** The daemon stand-in on `<home>/daemon.sock`: the answer `answer` gives for each request's path. */
const standIn = (home: string, answer: (path: string) => Buffer | string) => standInDaemon(join(home, "daemon.sock"), (r) => answer(r.path));

const ok = (body: string, framing: "length" | "chunks" = "length") => {
  const bytes = Buffer.from(body);
  if (framing === "length") return Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${bytes.length}\r\n\r\n`), bytes]);
  // Chunks of 5 bytes: a character of more than one byte is cut between two of them.
  const parts: Buffer[] = [Buffer.from("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")];
  for (let i = 0; i < bytes.length; i += 5) {
    const part = bytes.subarray(i, i + 5);
    parts.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n"));
  }
  parts.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(parts);
};

/** runInstant(argv) with NEXUS_HOME=home in a fresh process (not waiting on it: the stand-in answers from this one). */
function runInstant(home: string, argv: string[]): Promise<{ result: number | null; stdout: string }> {
  const [cmd, args] = evalArgv(`
    const m = await import(${JSON.stringify(INSTANT)});
    const s = await import(${JSON.stringify(STDIO)});
    const code = await m.runInstant(${JSON.stringify(argv)}, process.env);
    await s.stdioFailure();
    await s.writeStdio(2, JSON.stringify(code ?? null));
  `);
  const env: Record<string, string | undefined> = { ...process.env, NEXUS_HOME: home, NO_COLOR: "1" };
  delete env.NEXUS_URL;
  delete env.NEXUS_FULL_CLI;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`exit ${code}: ${stderr}`));
      else resolve({ result: JSON.parse(stderr) as number | null, stdout });
    });
  });
}

const daemon = { version: "1.2.3", commit: "abcdef", pid: 4242 };
// "3d ago" for the next 12 hours: with a creation time of "now", the table was printed with "1s ago"
// and expected, a second later on a slow machine (Deno, CI), with "2s ago".
const THREE_DAYS_AGO = new Date(Date.now() - 3 * 86_400_000).toISOString();
const list = {
  workspaces: [
    { id: "ws-1", name: "dé☃mo", displayName: "dé☃mo", status: "running", backend: "docker", branch: "nexus/demo", repository: null, worktreePath: "", ports: [{ name: "ssh", containerPort: 22, hostPort: 2222 }], resources: {}, idleTimeoutSeconds: null, forwardAgent: false, labels: { team: "a" }, createdAt: THREE_DAYS_AGO, updatedAt: "", lastActiveAt: "" },
  ],
};

describe("runInstant", () => {
  test("version prints this build and the daemon's answer, plain and --json", async () => {
    await using home = tempDir("instant");
    await using d = await standIn(home.path, () => ok(JSON.stringify(daemon)));
    expect(await runInstant(home.path, ["version"])).toEqual({ result: 0, stdout: versionText(buildInfo(), daemon, false) });
    expect(await runInstant(home.path, ["version", "--json"])).toEqual({ result: 0, stdout: versionText(buildInfo(), daemon, true) });
    const fields = d.requests[0]!.head.split("\r\n");
    expect([d.requests[0]!.method, d.requests[0]!.path]).toEqual(["GET", "/api/v1/version"]);
    expect(fields.map((f) => f.toLowerCase())).toContain("x-nexus-client: cli");
  });

  test("version with no daemon, or one that answers anything but its version, says it is not running", async () => {
    await using home = tempDir("instant");
    expect(await runInstant(home.path, ["version"])).toEqual({ result: 0, stdout: versionText(buildInfo(), undefined, false) });
    await using d = await standIn(home.path, () => "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\n{}");
    expect(await runInstant(home.path, ["version", "--json"])).toEqual({ result: 0, stdout: versionText(buildInfo(), undefined, true) });
    expect(d.requests.length).toBe(1);
  });

  test("list prints the table (and --json the answer) for each framing, asking for this build", async () => {
    await using home = tempDir("instant");
    for (const framing of ["length", "chunks"] as const) {
      await using d = await standIn(home.path, () => ok(JSON.stringify(list), framing));
      expect({ framing, got: await runInstant(home.path, ["list"]) }).toEqual({ framing, got: { result: 0, stdout: listText(list as never, false, false) } });
      expect({ framing, got: await runInstant(home.path, ["ls", "--json"]) }).toEqual({ framing, got: { result: 0, stdout: listText(list as never, true, false) } });
      const fields = d.requests[0]!.head.split("\r\n").map((f) => f.toLowerCase());
      expect([d.requests[0]!.method, d.requests[0]!.path]).toEqual(["GET", "/api/v1/workspaces"]);
      expect(fields).toContain(`x-nexus-expect-version: ${buildId().toLowerCase()}`);
      expect(fields).toContain("accept: application/json");
    }
  });

  test("list leaves everything but a list to the full path, printing nothing: no daemon, an error, no JSON, another shape", async () => {
    await using home = tempDir("instant");
    expect(await runInstant(home.path, ["list"])).toEqual({ result: null, stdout: "" });
    const answers = [
      'HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\ncontent-length: 38\r\n\r\n{"error":{"code":"VERSION_MISMATCH"}}\n',
      "HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!",
      'HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n{"items":[]}',
      'HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{"workspaces":[]}',
    ];
    for (const a of answers) {
      await using d = await standIn(home.path, () => a);
      expect({ a, got: await runInstant(home.path, ["list"]) }).toEqual({ a, got: { result: null, stdout: "" } });
      expect(d.requests.length).toBe(1);
    }
  });

  test("any other word leaves the command to the full path without asking", async () => {
    await using home = tempDir("instant");
    await using d = await standIn(home.path, () => ok(JSON.stringify(list)));
    for (const argv of [["list", "--all"], ["version", "-v"], ["list", "--json", "x"], ["status"]]) expect({ argv, got: await runInstant(home.path, argv) }).toEqual({ argv, got: { result: null, stdout: "" } });
    expect(d.requests).toEqual([]);
  });
});
