// What listens on which TCP port inside a workspace, read from /proc/net/tcp{,6} in the container's
// network namespace. A server bound to 127.0.0.1 there is reachable through an SSH forward but not
// through a port Docker published: that is the case this exists to explain.

/** One listening socket: its address as text ("127.0.0.1", "::", ...) and port. */
export interface TcpListener {
  address: string;
  port: number;
  loopback: boolean;
}

/** What listens on one container port. */
export interface PortListening {
  listening: boolean;
  /** Every listener on the port is bound to a loopback address (127.0.0.0/8, ::1). */
  loopbackOnly: boolean;
  addresses: string[];
}

/** The one command every reader runs in the workspace: both tables, IPv4 and IPv6, concatenated. */
export const PROC_NET_TCP = "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null";

/** One socket of /proc/net/tcp{,6}: local and remote end, and its state ("0A" listen, "01" established). */
export interface TcpSocket {
  local: TcpListener;
  remote: TcpListener;
  state: string;
}

const LISTEN = "0A";
const ESTABLISHED = "01";

/** Every socket in the text of /proc/net/tcp and /proc/net/tcp6 (both may be concatenated). */
export function parseProcNetTcpSockets(text: string): TcpSocket[] {
  const out: TcpSocket[] = [];
  const end = (hex: string, port: string): TcpListener => ({ ...decodeAddress(hex), port: parseInt(port, 16) });
  for (const line of text.split("\n")) {
    // "  sl  local_address rem_address   st ..." → "0: 0100007F:1F40 00000000:0000 0A ..."
    const m = /^\s*\d+:\s+([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})\s+([0-9A-Fa-f]{2})\s/.exec(line);
    if (!m) continue;
    out.push({ local: end(m[1]!, m[2]!), remote: end(m[3]!, m[4]!), state: m[5]!.toUpperCase() });
  }
  return out;
}

/** The listening sockets in the text of /proc/net/tcp{,6}. */
export function parseProcNetTcp(text: string): TcpListener[] {
  return parseProcNetTcpSockets(text).filter((s) => s.state === LISTEN).map((s) => s.local);
}

/**
 * Counts ESTABLISHED connections in /proc/net/tcp{,6} text: on port 22 (less the daemon's own), and on
 * `published` ports from a non-loopback peer.
 */
export function countConnections(procNetTcp: string, published: readonly number[], ownSsh = 1): { ssh: number; published: number } {
  let ssh = 0;
  let outside = 0;
  for (const s of parseProcNetTcpSockets(procNetTcp)) {
    if (s.state !== ESTABLISHED) continue;
    if (s.local.port === 22) ssh++;
    else if (published.includes(s.local.port) && !s.remote.loopback) outside++;
  }
  return { ssh: Math.max(0, ssh - ownSsh), published: outside };
}

/** Whether and how something listens on `port`, from parsed listeners. */
export function listeningOn(listeners: readonly TcpListener[], port: number): PortListening {
  const on = listeners.filter((l) => l.port === port);
  return { listening: on.length > 0, loopbackOnly: on.length > 0 && on.every((l) => l.loopback), addresses: [...new Set(on.map((l) => l.address))] };
}

/** The kernel prints addresses as 32-bit words in host (little-endian) byte order. */
function decodeAddress(hex: string): { address: string; loopback: boolean } {
  const words = hex.match(/.{8}/g)!.map((w) => Buffer.from(w, "hex").reverse());
  const bytes = Buffer.concat(words);
  if (bytes.length === 4) return { address: [...bytes].join("."), loopback: bytes[0] === 127 };
  const mappedV4 = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mappedV4) return { address: `::ffff:${[...bytes.subarray(12)].join(".")}`, loopback: bytes[12] === 127 };
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
  const address = groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::").replace(/:{3,}/, "::");
  const loopback = bytes.subarray(0, 15).every((b) => b === 0) && bytes[15] === 1;
  return { address, loopback };
}
