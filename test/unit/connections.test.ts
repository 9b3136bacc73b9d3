// What keeps a workspace awake, read from /proc/net/tcp{,6} inside it.
import { describe, expect, test } from "bun:test";
import { countConnections } from "../../src/core/workspaces.ts";

const HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
const line = (local: string, remote: string, state: string) => `   0: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000 20 4 30 10 -1`;

describe("countConnections", () => {
  test("SSH connections other than the daemon's own, and outside connections to published ports", () => {
    const text = [
      HEADER,
      line("00000000:0016", "00000000:0000", "0A"), // sshd listening
      line("020011AC:0016", "010011AC:C350", "01"), // the daemon's pooled connection (via the bridge)
      line("020011AC:0016", "010011AC:C351", "01"), // someone's ssh
      line("00000000:1F40", "00000000:0000", "0A"), // :8000 listening
      line("020011AC:1F40", "010011AC:D000", "01"), // a browser through docker-proxy
      line("0100007F:1F40", "0100007F:D001", "01"), // a health probe or a forward: loopback, not counted
      line("0100007F:D001", "0100007F:1F40", "01"), // its other end
      line("020011AC:0BB8", "010011AC:D002", "01"), // :3000 is not published
      line("020011AC:1F40", "010011AC:D003", "06"), // TIME_WAIT: over
    ].join("\n");
    expect(countConnections(text, [8000])).toEqual({ ssh: 1, published: 1 });
  });

  test("the daemon's agent-forwarding connections (one per exec'd agent) are its own too, not outside SSH", () => {
    const text = [
      HEADER,
      line("020011AC:0016", "010011AC:C350", "01"), // the daemon's plain pooled connection
      line("020011AC:0016", "010011AC:C352", "01"), // its connection forwarding the CLI's agent for exec
    ].join("\n");
    expect(countConnections(text, [], 2)).toEqual({ ssh: 0, published: 0 });
    expect(countConnections(text, [], 1)).toEqual({ ssh: 1, published: 0 });
  });

  test("IPv6: ::1 and ::ffff:127.0.0.1 peers are loopback", () => {
    const v6 = [
      line("00000000000000000000000000000000:1F40", "00000000000000000000000001000000:D000", "01"),
      line("00000000000000000000000000000000:1F40", "0000000000000000FFFF00000100007F:D001", "01"),
      line("00000000000000000000000000000000:1F40", "0000000000000000FFFF0000010011AC:D002", "01"),
    ].join("\n");
    expect(countConnections(v6, [8000])).toEqual({ ssh: 0, published: 1 });
  });
});
