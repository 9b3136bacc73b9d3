import ssh2 from "ssh2";

/** The public keys the user's ssh-agent holds, as authorized_keys lines; none when it does not answer in time. */
export function agentPublicKeys(socketPath: string, timeoutMs = 2000): Promise<string[]> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve([]), timeoutMs);
    try {
      new ssh2.OpenSSHAgent(socketPath).getIdentities((err, keys) => {
        clearTimeout(timer);
        if (err || !keys) return resolve([]);
        // OpenSSHAgent hands back parsed keys (the typings also allow other agents' entries).
        const parsed = keys as unknown as Array<{ type: string; comment?: string; getPublicSSH(): Buffer }>;
        resolve(parsed.map((k) => `${k.type} ${k.getPublicSSH().toString("base64")}${k.comment ? ` ${k.comment}` : ""}`));
      });
    } catch {
      clearTimeout(timer);
      resolve([]);
    }
  });
}
