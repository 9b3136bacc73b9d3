// A pooled connection to a workspace tries its container's own address first (SshTarget.direct: an
// engine of this machine, a bridge here), so no port proxy copies its messages, and takes the
// published host:port when that address does not answer. The host key is pinned on both ways: an
// address that answers with another key is not used. Against ssh2 servers in this process on
// loopback addresses of their own. The real engine's side is test/integration/exec-agent.test.ts.
import { afterAll, expect, test } from "bun:test";
import ssh2 from "ssh2";
import { openConnection } from "../../src/ssh/connect.ts";
import { bridgedHere } from "../../src/docker/engine.ts";

const hostKey = ssh2.utils.generateKeyPairSync("ed25519");
const otherKey = ssh2.utils.generateKeyPairSync("ed25519");
const clientKey = ssh2.utils.generateKeyPairSync("ed25519");

/** An sshd stand-in on `host`: counts logins, answers the no-op session every new connection runs. */
function sshd(host: string, key: string): Promise<{ port: number; logins: () => number; connections: () => number; close: () => Promise<void> }> {
  let logins = 0;
  let connections = 0;
  const server = new ssh2.Server({ hostKeys: [key] }, (client) => {
    connections++;
    client.on("error", () => {});
    client.on("authentication", (ctx) => (ctx.method === "publickey" ? ctx.accept() : ctx.reject(["publickey"])));
    client.on("ready", () => {
      logins++;
      client.on("session", (accept) => {
        accept().once("exec", (acceptExec) => {
          const channel = acceptExec();
          channel.exit(0);
          channel.end();
        });
      });
    });
  });
  return new Promise((resolve) =>
    server.listen(0, host, () =>
      resolve({ port: (server.address() as { port: number }).port, logins: () => logins, connections: () => connections, close: () => new Promise<void>((r) => server.close(() => r())) }),
    ),
  );
}

const published = await sshd("127.0.0.1", hostKey.private);
const direct = await sshd("127.0.0.2", hostKey.private);
const impostor = await sshd("127.0.0.3", otherKey.private);
afterAll(async () => {
  await Promise.all([published.close(), direct.close(), impostor.close()]);
});

const target = { host: "127.0.0.1", port: published.port, username: "nexus", hostPublicKey: hostKey.public };

async function connectVia(to: { host: string; port: number } | undefined): Promise<{ viaPublished: boolean; failed: number }> {
  const before = published.logins();
  let failed = 0;
  const client = await openConnection(target, { privateKey: clientKey.private, direct: async () => to, directFailed: () => void failed++ });
  client.end();
  return { viaPublished: published.logins() > before, failed };
}

test("the container's own address is used when it answers with the pinned key", async () => {
  const before = direct.logins();
  expect(await connectVia({ host: "127.0.0.2", port: direct.port })).toEqual({ viaPublished: false, failed: 0 });
  expect(direct.logins()).toBe(before + 1);
});

test("refused there (sshd not listening yet): the published port, and the next connection tries it again", async () => {
  // 127.0.0.4 is this machine's too, and nothing listens on it.
  expect(await connectVia({ host: "127.0.0.4", port: direct.port })).toEqual({ viaPublished: true, failed: 0 });
});

test("another key there: never used; the published port, and the address given up", async () => {
  expect(await connectVia({ host: "127.0.0.3", port: impostor.port })).toEqual({ viaPublished: true, failed: 1 });
});

test("no address (another machine's engine, a VM's, a namespace's): the published port", async () => {
  expect(await connectVia(undefined)).toEqual({ viaPublished: true, failed: 0 });
});

test("an address counts only on a network bridged here (its gateway one of this machine's addresses)", () => {
  const local = new Set(["127.0.0.1", "172.17.0.1"]);
  expect(bridgedHere([{ IPAddress: "172.17.0.5", Gateway: "172.17.0.1" }], local)).toBe("172.17.0.5");
  expect(bridgedHere([{ IPAddress: "10.9.0.2", Gateway: "10.9.0.1" }, { IPAddress: "172.17.0.6", Gateway: "172.17.0.1" }], local)).toBe("172.17.0.6");
  // Docker Desktop's or a rootless engine's bridge is not here; a network without an address (host, none) neither.
  expect(bridgedHere([{ IPAddress: "192.168.65.3", Gateway: "192.168.65.1" }], local)).toBeUndefined();
  expect(bridgedHere([{ IPAddress: "", Gateway: "" }], local)).toBeUndefined();
});

test("the pool asks for the address once while the workspace runs, gives it up for that time once it failed, and asks again after a stop", async () => {
  const { SshPool } = await import("../../src/ssh/pool.ts");
  const pool = new SshPool({ privateKey: clientKey.private, execAgent: false });
  try {
    let asked = 0;
    let to = { host: "127.0.0.2", port: direct.port };
    const withDirect = { ...target, direct: async () => (asked++, to) };
    const before = direct.logins();
    await pool.waitReady("ws", withDirect, 10_000);
    expect(await pool.exec("ws", withDirect, "true")).toEqual({ exitCode: 0 });
    pool.renew("ws"); // the next command gets a new connection, to the address already known
    expect(await pool.exec("ws", withDirect, "true")).toEqual({ exitCode: 0 });
    expect({ asked, logins: direct.logins() - before }).toEqual({ asked: 1, logins: 2 });
    // A stop drops the workspace's connections: the next start asks again (a container may get another address).
    pool.drop("ws");
    to = { host: "127.0.0.3", port: impostor.port };
    const impostorBefore = impostor.connections();
    await pool.waitReady("ws", withDirect, 10_000);
    pool.renew("ws");
    expect(await pool.exec("ws", withDirect, "true")).toEqual({ exitCode: 0 });
    // Its key was refused once; the second connection did not go there again.
    expect({ asked, impostorConnections: impostor.connections() - impostorBefore, impostorLogins: impostor.logins() }).toEqual({ asked: 2, impostorConnections: 1, impostorLogins: 0 });
  } finally {
    pool.closeAll();
  }
});
