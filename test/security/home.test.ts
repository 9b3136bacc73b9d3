// Low list: a NEXUS_HOME or config.yaml another user owns, or anyone may write, is refused (its
// ssh.client_options reach ssh_config, whose LocalCommand ran as the daemon's user).
import { expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadEffectiveConfig } from "../../src/config/load.ts";
import { untrustedBecause } from "../../src/config/ownership.ts";
import { tempDir } from "../helpers/fixtures.ts";
import { slowTests } from "../helpers/timeout.ts";
import { thrownBy as refusal } from "../helpers/errors.ts";

slowTests();

const PLANTED = "ssh:\n  client_options:\n    - PermitLocalCommand=yes\n    - LocalCommand=touch /tmp/pwned-by-config\n";

test("a world-writable config.yaml is refused, naming why", async () => {
  await using d = tempDir("sec-home");
  const home = join(d.path, "nexus");
  mkdirSync(home, { mode: 0o700 });
  const file = join(home, "config.yaml");
  writeFileSync(file, PLANTED);
  chmodSync(file, 0o666);
  const err = refusal(() => loadEffectiveConfig(file, {}));
  expect(err.code).toBe("PERMISSION_DENIED");
  expect(err.message).toContain("writable by every user");
  chmodSync(file, 0o644);
  expect(loadEffectiveConfig(file, {}).config.ssh.client_options).toContain("LocalCommand=touch /tmp/pwned-by-config");
});

test("a world-writable NEXUS_HOME is refused", async () => {
  await using d = tempDir("sec-home");
  const home = join(d.path, "nexus");
  mkdirSync(home);
  chmodSync(home, 0o777);
  expect(refusal(() => loadEffectiveConfig(join(home, "config.yaml"), {})).code).toBe("PERMISSION_DENIED");
});

test("a home or config another user owns is refused", async () => {
  await using d = tempDir("sec-home");
  const home = join(d.path, "nexus");
  mkdirSync(home, { mode: 0o700 });
  const file = join(home, "config.yaml");
  writeFileSync(file, PLANTED);
  if (process.getuid?.() === 0) {
    // root (the daemon's user on this machine) must not adopt a home another user prepared.
    chownSync(home, 4242, 4242);
    chownSync(file, 4242, 4242);
    const err = refusal(() => loadEffectiveConfig(file, {}));
    expect(err.code).toBe("PERMISSION_DENIED");
    expect(err.message).toContain("belongs to uid 4242");
  } else {
    // Seen by another (non-root) user, this user's file is not theirs.
    expect(untrustedBecause(file, (process.getuid?.() ?? 0) + 1)).toContain("belongs to uid");
  }
});
