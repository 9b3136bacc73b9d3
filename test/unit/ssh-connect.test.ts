// The no-op session that makes sshd turn Nagle off on a new pooled connection (ssh/connect.ts): the
// connection is handed out once sshd has answered it, and its failure only costs speed (logged, never
// thrown). The real sshd's side is test/integration/ssh-nodelay.test.ts.
import { expect, test } from "bun:test";
import type { Client } from "../../src/ssh/connection-group.ts";
import { startInteractive } from "../../src/ssh/connect.ts";

type ExecCallback = (err: Error | undefined, channel: unknown) => void;

function fakeClient(exec: (command: string, cb: ExecCallback) => void): Client {
  return { exec } as unknown as Client;
}

function fakeChannel() {
  const calls: string[] = [];
  return { calls, channel: { resume: () => calls.push("resume"), end: () => calls.push("end"), stderr: { resume: () => calls.push("stderr.resume") } } };
}

test("runs `true` and settles only once sshd has answered the request; the channel is drained and ended", async () => {
  let answer: ExecCallback | undefined;
  let command: string | undefined;
  const warnings: string[] = [];
  let done = false;
  const p = startInteractive(fakeClient((c, cb) => ((command = c), (answer = cb))), { warn: (m) => warnings.push(m) }).then(() => (done = true));
  await Promise.resolve();
  expect(command).toBe("true");
  expect(done).toBe(false);
  const { calls, channel } = fakeChannel();
  answer!(undefined, channel);
  await p;
  expect(done).toBe(true);
  expect(calls.sort()).toEqual(["end", "resume", "stderr.resume"]);
  expect(warnings).toEqual([]);
});

test("a refused session is logged and the connection is used anyway", async () => {
  const warnings: string[] = [];
  await startInteractive(fakeClient((_c, cb) => cb(new Error("Unable to exec"), undefined)), { warn: (m) => warnings.push(m) });
  expect(warnings.length).toBe(1);
  expect(warnings[0]).toContain("Unable to exec");
});

test("a connection gone before the request (ssh2 throws 'Not connected') is logged, not thrown", async () => {
  const warnings: string[] = [];
  await startInteractive(
    fakeClient(() => {
      throw new Error("Not connected");
    }),
    { warn: (m) => warnings.push(m) },
  );
  expect(warnings.length).toBe(1);
  expect(warnings[0]).toContain("Not connected");
  // Without a log it settles all the same.
  await startInteractive(fakeClient((_c, cb) => cb(new Error("No response from server"), undefined)));
});
