// Certificates for a Docker engine on tcp:// with --tlsverify, made with openssl for one test: a CA,
// a server certificate for 127.0.0.1 and a client certificate, both signed by that CA (EC P-256, a
// day). `makeCa` alone gives another CA (a wrong one, for the refusal test).
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TlsFiles {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 60_000 });
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A self-signed CA in `dir`: ca.pem and ca-key.pem. */
export function makeCa(dir: string, cn = "nexus test CA"): { ca: string; caKey: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = join(dir, "ca.pem");
  const caKey = join(dir, "ca-key.pem");
  openssl("req", "-x509", ...EC, "-keyout", caKey, "-out", ca, "-days", "1", "-subj", `/CN=${cn}`);
  return { ca, caKey };
}

function signed(dir: string, name: string, ca: { ca: string; caKey: string }, cn: string, ext: string): { cert: string; key: string } {
  const key = join(dir, `${name}-key.pem`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}-cert.pem`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl("req", ...EC, "-keyout", key, "-out", csr, "-subj", `/CN=${cn}`);
  openssl("x509", "-req", "-in", csr, "-CA", ca.ca, "-CAkey", ca.caKey, "-CAcreateserial", "-out", cert, "-days", "1", "-extfile", extFile);
  return { cert, key };
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`. */
export function makeTlsFiles(dir: string): TlsFiles {
  const ca = makeCa(dir);
  const server = signed(dir, "server", ca, "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  const client = signed(dir, "client", ca, "nexus client", "extendedKeyUsage=clientAuth\n");
  return { dir, ...ca, serverCert: server.cert, serverKey: server.key, clientCert: client.cert, clientKey: client.key };
}
