// tmux command lines and parsers of the sessions module, run against the host's real tmux where
// the line matters (quoting, formats), on a private server socket of the test's own.
import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync, spawnSync } from "node:child_process";
import { followStep } from "../../src/core/sessions/follow.ts";
import { parseDetachKey } from "../../src/cli/terminal.ts";
import {
  captureLine,
  contentLines,
  deadCode,
  followLine,
  FOLLOW_ROWS,
  isMissing,
  killLine,
  listLine,
  newSessionId,
  newSessionLine,
  parseCapture,
  parseList,
  sendKeysLine,
  SESSION_ID,
} from "../../src/core/sessions/tmux.ts";
import { slowTests } from "../helpers/timeout.ts";

slowTests();

const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
const SOCKET = `nexus-unit-${process.pid}`;
/** Runs a line as the daemon would, on this test's own tmux server. */
const sh = (line: string) => {
  const r = spawnSync("sh", ["-c", line.replaceAll("tmux -L nexus ", `tmux -L ${SOCKET} `)], { encoding: "utf8" });
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
};
const until = async (what: string, ok: () => boolean, ms = 30_000) => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

afterAll(() => {
  if (hasTmux) spawnSync("tmux", ["-L", SOCKET, "kill-server"]);
});

describe("ids", () => {
  test("are ses- and 8 hex digits, all different", () => {
    const ids = new Set(Array.from({ length: 200 }, newSessionId));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(SESSION_ID);
    expect(SESSION_ID.test("ses-1234abcd")).toBe(true);
    for (const bad of ["ses-1234abc", "ses-1234ABCD", "sess-123", "ses-1234abcd0", "x"]) expect(SESSION_ID.test(bad)).toBe(false);
  });
});

describe("parsers", () => {
  test("parseList keeps our sessions, with the exit code only for a finished one", () => {
    const sep = "\u001f";
    const text = [
      ["ses-0000aaaa", "1796500000", "2", "0", "xys", "1796500010", "console", "120", "40", "login shell"].join(sep),
      ["ses-0000bbbb", "1796500001", "0", "1", "x3ys", "1796500020", "command", "80", "24", "sh -c echo a\u001fb"].join(sep),
      ["mine", "1", "0", "0", "xys", "1", "", "80", "24", "vim"].join(sep),
    ].join("\n");
    const [a, b, ...rest] = parseList(text);
    expect(rest).toEqual([]);
    expect(a).toMatchObject({ id: "ses-0000aaaa", attached: 2, dead: false, exitCode: null, kind: "console", cols: 120, rows: 40, command: "login shell" });
    expect(a!.createdAt).toBe(new Date(1796500000 * 1000).toISOString());
    expect(b).toMatchObject({ id: "ses-0000bbbb", dead: true, exitCode: 3, kind: "command", command: "sh -c echo a\u001fb" });
  });

  test("contentLines drops tmux's dead-pane line and the blank rows under the output", () => {
    expect(contentLines(["a", "b  ", "", "", "Pane is dead (status 3, Sat Dec  5 20:50:00 2026)"], true)).toEqual(["a", "b"]);
    expect(contentLines(["a", "", "b", "", ""], false)).toEqual(["a", "", "b"]);
    expect(contentLines(["Pane is dead (status 1, x)"], false)).toEqual(["Pane is dead (status 1, x)"]);
  });

  test("parseCapture and followStep read the state line", () => {
    const live = parseCapture("x\ny\n0:xys:12:3:24\n");
    expect(live.state).toMatchObject({ dead: false, exitCode: null, historySize: 12, cursorY: 3, height: 24 });
    expect(live.lines).toEqual(["x", "y"]);
    const step = followStep("l10\nl11\nl12\nl13\nl14\n0:xys:12:3:24:10\n");
    expect(step).toMatchObject({ finished: false, next: 15, lines: ["l10", "l11", "l12", "l13", "l14"] });
    const dead = followStep("last\n\nPane is dead (status 7, now)\n1:x7ys:0:23:24:0\n");
    expect(parseCapture("[… 12 bytes of earlier output left out]\na\n1:x0ys:0:0:5").lines).toEqual(["a"]);
    expect(parseCapture("0:xys:0:0:5\n").lines).toEqual([]);
    expect(dead).toMatchObject({ finished: true, exitCode: 7, lines: ["last"] });
  });

  test("deadCode: the wrapper's record first, then tmux's status, then 128 + signal", () => {
    expect(deadCode("x0y1s")).toBe(0);
    expect(deadCode("xy3s")).toBe(3);
    expect(deadCode("xys9")).toBe(137);
    expect(deadCode("xys")).toBe(null);
    expect(deadCode("garbage")).toBe(null);
  });

  test("isMissing knows tmux's words for a session or server that is not there", () => {
    expect(isMissing("can't find session: ses-00000000")).toBe(true);
    expect(isMissing("no server running on /tmp/tmux-1000/nexus")).toBe(true);
    expect(isMissing("error connecting to /tmp/tmux-0/nexus (No such file or directory)")).toBe(true);
    expect(isMissing("some other failure")).toBe(false);
  });

  test("detach keys: ctrl-\\ by default, other control keys when asked, never Escape or Enter", () => {
    expect(parseDetachKey(undefined)).toBe(0x1c);
    expect(parseDetachKey("ctrl-]")).toBe(0x1d);
    expect(parseDetachKey("ctrl-a")).toBe(1);
    expect(parseDetachKey("^Q")).toBe(17);
    for (const bad of ["ctrl-[", "ctrl-m", "x", "ctrl-ab", ""]) expect(() => parseDetachKey(bad)).toThrow();
  });
});

describe.skipIf(!hasTmux)("command lines against a real tmux", () => {
  test("a command's session keeps its output and exit code; labels and odd quoting survive", async () => {
    const id = newSessionId();
    const label = `printf 'it''s "quoted" $HOME'`;
    const r = sh(newSessionLine({ id, commandLine: `printf '%s\\n' "it's \\"quoted\\" \\$HOME" a b; exit 3`, label, kind: "command", cwd: "/", cols: 80, rows: 10 }));
    expect(r).toMatchObject({ code: 0, stderr: "" });
    await until("the command to finish", () => parseList(sh(listLine()).stdout).find((s) => s.id === id)?.dead === true);
    const s = parseList(sh(listLine()).stdout).find((x) => x.id === id)!;
    expect(s).toMatchObject({ kind: "command", command: label, exitCode: 3, cols: 80, rows: 10 });
    const raw = sh(captureLine(id, 100));
    const cap = parseCapture(raw.stdout);
    if (cap.lines.length === 0) console.log(JSON.stringify(raw));
    expect(contentLines(cap.lines, cap.state.dead)).toEqual([`it's "quoted" $HOME`, "a", "b"]);
    const tail = followStep(sh(followLine(id, { tail: 2 })).stdout);
    expect(tail.finished).toBe(true);
    expect(tail.lines.slice(-2)).toEqual(["a", "b"]);
    expect(sh(killLine(id)).code).toBe(0);
    const gone = sh(killLine(id));
    expect(gone.code).not.toBe(0);
    expect({ stderr: gone.stderr, missing: isMissing(gone.stderr) }).toEqual({ stderr: gone.stderr, missing: true });
  });

  test("following: lines appear once each, past the screen's height, then the code", async () => {
    const id = newSessionId();
    expect(sh(newSessionLine({ id, commandLine: "cat", label: "cat", kind: "command", cwd: "/", cols: 40, rows: 5 })).code).toBe(0);
    const seen: string[] = [];
    let next: { from: number } | { tail: number } = { tail: 10 };
    const poll = () => {
      const step = followStep(sh(followLine(id, next)).stdout);
      seen.push(...step.lines);
      next = { from: step.next };
      return step;
    };
    poll();
    for (let i = 1; i <= 12; i++) expect(sh(sendKeysLine(id, `line ${i}`, true)).code).toBe(0);
    await until("12 lines", () => (poll(), seen.filter((l) => l.startsWith("line")).length >= 12));
    // cat echoes the typed line and prints it: each appears twice, in order, none repeated by the follower.
    const expected = Array.from({ length: 12 }, (_, i) => [`line ${i + 1}`, `line ${i + 1}`]).flat();
    await until("all of them", () => (poll(), seen.length >= expected.length));
    expect(seen).toEqual(expected);
    sh(`tmux -L nexus send-keys -t ${id}: C-d`);
    await until("the end", () => poll().finished);
    expect(parseList(sh(listLine()).stdout).find((x) => x.id === id)).toMatchObject({ dead: true, exitCode: 0 });
  });

  test("following far behind: bounded captures (FOLLOW_ROWS rows), every line once, in order, then the code", async () => {
    const id = newSessionId();
    const total = FOLLOW_ROWS * 2 + 500;
    // The command waits for a key, so the follower starts before its output and then falls behind all of it.
    expect(sh(newSessionLine({ id, commandLine: `read x; seq 1 ${total}; exit 4`, label: "seq", kind: "command", cwd: "/", cols: 40, rows: 5 })).code).toBe(0);
    let step = followStep(sh(followLine(id, { tail: 0 })).stdout);
    let next: { from: number } = { from: step.next };
    expect(sh(sendKeysLine(id, "", true)).code).toBe(0);
    await until("the command to finish", () => parseList(sh(listLine()).stdout).find((x) => x.id === id)?.dead === true);
    const seen: string[] = [];
    let capped = 0;
    for (let i = 0; i < 20 && !step.finished; i++) {
      step = followStep(sh(followLine(id, next)).stdout);
      if (step.more) {
        capped++;
        expect(step.lines.length).toBeLessThanOrEqual(FOLLOW_ROWS);
      }
      seen.push(...step.lines);
      next = { from: step.next };
    }
    expect(step).toMatchObject({ finished: true, exitCode: 4 });
    expect(capped).toBeGreaterThanOrEqual(2);
    expect(seen.filter((l) => l !== "")).toEqual(Array.from({ length: total }, (_, i) => String(i + 1)));
  });

  test("send-keys types text literally: key names and semicolons stay text", async () => {
    const id = newSessionId();
    expect(sh(newSessionLine({ id, commandLine: "cat", label: "cat", kind: "command", cwd: "/", cols: 60, rows: 5 })).code).toBe(0);
    expect(sh(sendKeysLine(id, "Enter C-c ; echo 'x'", true)).code).toBe(0);
    await until("the echo", () => sh(captureLine(id, 10)).stdout.includes("Enter C-c ; echo 'x'\nEnter C-c ; echo 'x'"));
    sh(killLine(id));
  });
});

test("the list line succeeds with no server at all", () => {
  if (!hasTmux) return;
  const line = listLine().replaceAll("tmux -L nexus ", "tmux -L nexus-unit-none-" + process.pid + " ");
  const r = spawnSync("sh", ["-c", line], { encoding: "utf8" });
  expect(r.status).toBe(0);
  expect(r.stdout).toBe("");
  execFileSync("true");
});
