// Runs before any test file imports project code: no test touches the real ~/.nexus, ~/.ssh or git identity.
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = mkdtempSync(join(tmpdir(), "nexus-test-"));
process.env.NEXUS_TEST_ROOT = root;
process.env.HOME = join(root, "home");
process.env.NEXUS_HOME = join(root, "nexus");
mkdirSync(process.env.HOME, { recursive: true });
process.env.GIT_AUTHOR_NAME = process.env.GIT_COMMITTER_NAME = "Nexus Test";
process.env.GIT_AUTHOR_EMAIL = process.env.GIT_COMMITTER_EMAIL = "test@nexus.invalid";
process.env.GIT_CONFIG_NOSYSTEM = "1";
delete process.env.SSH_AUTH_SOCK;
delete process.env.NEXUS_URL;
delete process.env.NEXUS_TOKEN;
// A NEXUS_* config variable of the developer's shell must not change what the tests see
// (env.ts only reads the schema: importing it does nothing).
const { configEnvKeys } = await import("../src/config/env.ts");
for (const key of configEnvKeys()) delete process.env[key.variable];

// bunfig's [test] timeout is not honoured by bun 1.4.5, and this default holds for the first test file
// of a run only (oven-sh/bun#43787): files whose tests take seconds also call slowTests() (helpers/timeout.ts).
import { setDefaultTimeout } from "bun:test";
setDefaultTimeout(120_000);
