// An ssh:// engine's connection (docker/remote/ssh-link.ts) runs `true` over a session before it is
// used, so that sshd turns Nagle off on it (ssh/connect.ts says why), and is used anyway when sshd
// refuses that session: logged, never thrown. Against an ssh2 server in this process that forwards
// direct-streamlocal channels to a unix socket of the test's. The real sshd's side is
// test/integration/remote-nodelay.test.ts.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import ssh2 from "ssh2";
import { SshLink } from "../../src/docker/remote/ssh-link.ts";
import { generateEd25519 } from "../../src/ssh/keys.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { until } from "../helpers/wait.ts";

const root = tempDir("ssh-link");
// Our generator: ssh2's drops a public key's leading zero byte, so one key in 256 did not parse (src/ssh/keys.ts).
const hostKey = generateEd25519("ssh-link-test-host");
const clientKey = generateEd25519("ssh-link-test-client");
const engineSocket = join(root.path, "engine.sock");
const identityFile = join(root.path, "id_ed25519");
const knownHostsFile = join(root.path, "known_hosts");
let engine: Server;

/** What the session requests of one connection did; `answer` decides each one (true: accepted). */
interface SshdDouble {
  port: number;
  commands: string[];
  /** Session requests not answered yet (when they are not answered at once). */
  pending(): number;
  /** Answers the oldest of them: accepted (its command exits 0), or refused. */
  answer: (accept: boolean) => void;
  close(): Promise<void>;
}

function sshd(answerAtOnce: boolean | undefined): Promise<SshdDouble> {
  const commands: string[] = [];
  const waiting: Array<(accept: boolean) => void> = [];
  const server = new ssh2.Server({ hostKeys: [hostKey.privateKey] }, (client) => {
    client.on("error", () => {});
    client.on("authentication", (ctx) => (ctx.method === "publickey" ? ctx.accept() : ctx.reject(["publickey"])));
    client.on("ready", () => {
      client.on("session", (acceptSession, rejectSession) => {
        const go = (accept: boolean) => {
          if (!accept) return rejectSession();
          acceptSession().once("exec", (acceptExec, _reject, info) => {
            commands.push(info.command);
            const channel = acceptExec();
            channel.exit(0);
            channel.end();
          });
        };
        if (answerAtOnce !== undefined) go(answerAtOnce);
        else waiting.push(go);
      });
      client.on("openssh.streamlocal", (accept, _reject, info) => {
        const channel = accept();
        const local = connect(info.socketPath);
        channel.pipe(local).pipe(channel);
      });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostKey.publicKey}\n`);
      resolve({
        port,
        commands,
        pending: () => waiting.length,
        answer: (accept) => waiting.shift()?.(accept),
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}

function link(port: number, warnings: string[]): SshLink {
  return new SshLink({ name: "box", host: "127.0.0.1", port, username: "me", identityFile, knownHostsFile, socket: engineSocket, relayPath: join(root.path, "box.sock"), log: { warn: (m) => void warnings.push(m) } });
}

/** What the engine's socket answers on a stream through the link. */
function readAll(stream: Duplex): Promise<string> {
  const parts: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on("data", (b: Buffer) => parts.push(b));
    stream.on("error", reject);
    stream.on("close", () => resolve(Buffer.concat(parts).toString()));
  });
}

beforeAll(async () => {
  writeFileSync(identityFile, clientKey.privateKey, { mode: 0o600 });
  engine = createServer((s) => s.end("OK"));
  await new Promise<void>((r) => engine.listen(engineSocket, () => r()));
});

afterAll(async () => {
  engine?.close();
  await root[Symbol.asyncDispose]();
});

test("the connection runs `true` over a session and is handed out once sshd has answered it", async () => {
  const server = await sshd(undefined);
  const warnings: string[] = [];
  const l = link(server.port, warnings);
  try {
    let connected = false;
    const connecting = l.connect().then(() => (connected = true));
    // The session is asked for after the handshake, and the link is not handed out before sshd answers it.
    await until("the link to ask for a session", () => server.pending(), (n) => n === 1, { timeoutMs: 10_000 });
    expect(connected).toBe(false);
    server.answer(true);
    await connecting;
    expect(server.commands).toEqual(["true"]);
    expect(await readAll(await l.openSocket(engineSocket))).toBe("OK");
    expect(warnings).toEqual([]);
  } finally {
    l.close();
    await server.close();
  }
});

test("a refused session is logged with the engine's name and the connection is used anyway", async () => {
  const server = await sshd(false);
  const warnings: string[] = [];
  const l = link(server.port, warnings);
  try {
    expect(await readAll(await l.openSocket(engineSocket))).toBe("OK");
    expect(server.commands).toEqual([]);
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toStartWith(`Engine 'box' (ssh://me@127.0.0.1:${server.port}): `);
    expect(warnings[0]).toContain("turns Nagle off");
  } finally {
    l.close();
    await server.close();
  }
});
