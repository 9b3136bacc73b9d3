import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, parseConfig } from "../../src/config/load.ts";
import { RESOURCE_PRESETS } from "../../src/config/schema.ts";
import { parseDuration, parseSize } from "../../src/config/units.ts";
import { NexusError } from "../../src/core/errors.ts";
import { tempDir } from "../helpers/fixtures.ts";

const FILE = "/etc/nexus-test/config.yaml";

function configError(text: string): NexusError {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(NexusError);
    return err as NexusError;
  }
  throw new Error(`expected the config to be rejected:\n${text}`);
}

describe("parseDuration", () => {
  test.each([
    ["30m", 1800],
    ["90s", 90],
    ["1h", 3600],
    ["1h30m", 5400],
    ["500ms", 0.5],
    ["2d", 172800],
    ["1.5h", 5400],
    ["45", 45],
    [" 10s ", 10],
    [120, 120],
    [0, 0],
  ] as const)("%p is %p seconds", (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  test.each(["", "soon", "10x", "m", "1h 30m", "-5s", "1h30", "30mm"])("%p is not a duration", (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });

  test("negative and non-finite numbers are not durations", () => {
    expect(parseDuration(-1)).toBeUndefined();
    expect(parseDuration(Number.NaN)).toBeUndefined();
    expect(parseDuration(Number.POSITIVE_INFINITY)).toBeUndefined();
  });
});

describe("parseSize", () => {
  test.each([
    ["4GB", 4 * 1024 ** 3],
    ["512MB", 512 * 1024 ** 2],
    ["2g", 2 * 1024 ** 3],
    ["1kb", 1024],
    ["1KiB", 1024],
    ["1.5GB", 1.5 * 1024 ** 3],
    ["100", 100],
    ["100b", 100],
    [" 8 GB ", 8 * 1024 ** 3],
    [1000, 1000],
  ] as const)("%p is %p bytes", (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  test.each(["", "big", "4XB", "GB", "-1GB", "4 G B"])("%p is not a size", (input) => {
    expect(parseSize(input)).toBeUndefined();
  });
});

describe("parseConfig", () => {
  test("an empty file gives the documented defaults", () => {
    const c = parseConfig("", FILE);
    expect(c.daemon).toEqual({ port: 8080, host: "127.0.0.1", allow_privileged_ports: false });
    expect(c.defaults).toMatchObject({ backend: "docker", idle_timeout: 1800, resources: "medium", image: "nexus-workspace:latest" });
    expect(c.ssh.port_range).toEqual({ start: 32800, end: 34999 });
    expect(c.ssh.connection.user).toBe("nexus");
    expect(c.ssh.connection.forward_agent).toBe(true);
    expect(c.ssh.connection.strict_host_key_checking).toBe("accept-new");
    expect(c.ssh.injection.enabled).toBe(true);
    expect(c.ssh.injection.sources).toEqual(["~/.ssh/id_ed25519.pub", "~/.ssh/id_rsa.pub"]);
    expect(c.ssh.client_options).toEqual([]);
    expect(c.workspaces).toEqual({});
    expect(c.docker.host).toBeUndefined();
  });

  test("a file of only comments is the defaults too", () => {
    expect(parseConfig("# nothing here\n\n", FILE)).toEqual(parseConfig("", FILE));
  });

  test.each([
    ["30m", 1800],
    ["90s", 90],
    ["1h30m", 5400],
    ["500ms", 0.5],
    ["600", 600],
  ] as const)("idle_timeout %p becomes %p seconds", (text, seconds) => {
    expect(parseConfig(`defaults:\n  idle_timeout: ${text}\n`, FILE).defaults.idle_timeout).toBe(seconds);
  });

  test.each([
    ["4GB", 4 * 1024 ** 3],
    ["512MB", 512 * 1024 ** 2],
  ] as const)("resources memory %p becomes %p bytes", (text, bytes) => {
    const c = parseConfig(`defaults:\n  resources:\n    cpu: 2\n    memory: ${text}\n`, FILE);
    expect(c.defaults.resources).toEqual({ cpu: 2, memory: bytes });
  });

  test("resource presets and per-workspace definitions", () => {
    const c = parseConfig(
      ["defaults:", "  resources: large", "workspaces:", "  web:", "    path: /src/web", "    ports: [3000, 5173]", "    env:", "      NODE_ENV: development", ""].join("\n"),
      FILE,
    );
    expect(c.defaults.resources).toBe("large");
    expect(RESOURCE_PRESETS.large.cpu).toBe(4);
    expect(c.workspaces.web?.path).toBe("/src/web");
    expect(c.workspaces.web?.ports).toEqual([3000, 5173]);
    expect(c.workspaces.web?.env).toEqual({ NODE_ENV: "development" });
  });

  test("ssh settings", () => {
    const c = parseConfig(
      ["ssh:", "  port_range:", "    start: 40000", "    end: 40010", "  connection:", "    user: nexus", "    forward_agent: false", "  client_options: ['Compression=yes']", ""].join("\n"),
      FILE,
    );
    expect(c.ssh.port_range).toEqual({ start: 40000, end: 40010 });
    expect(c.ssh.connection.user).toBe("nexus");
    expect(c.ssh.connection.forward_agent).toBe(false);
    expect(c.ssh.connection.server_alive_interval).toBe(30);
    expect(c.ssh.client_options).toEqual(["Compression=yes"]);
  });

  test("an invalid value names the file, the line and the key", () => {
    const e = configError("daemon:\n  port: 8080\n\ndefaults:\n  idle_timeout: soon\n");
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.details).toEqual({ file: FILE, line: 5, key: "defaults.idle_timeout" });
    expect(e.message).toContain(`${FILE}:5`);
    expect(e.message).toContain("defaults.idle_timeout");
    expect(e.message).toContain("duration");
    expect(e.suggestion).toContain("line 5");
  });

  test("an invalid size names its line and key, and says a size is expected", () => {
    const e = configError("# resources\ndefaults:\n  resources:\n    cpu: 1\n    memory: lots\n");
    expect([4, 5]).toContain(e.details?.line as number);
    expect(String(e.details?.key)).toStartWith("defaults.resources");
    // The schema's own message ("expected a size such as 512MB or 4GB") must reach the user, not
    // valibot's union summary ("Expected (... | Object) but received Object").
    expect(e.message).toContain("expected a size");
  });

  test("a value out of range in a nested section names its line and key", () => {
    const e = configError("daemon:\n  port: 99999\n");
    expect(e.details).toEqual({ file: FILE, line: 2, key: "daemon.port" });
    expect(e.message).toContain("daemon.port");
  });

  test("a bad element of a list names the element", () => {
    const e = configError("workspaces:\n  foo:\n    ports: [1, 'x']\n");
    expect(e.details?.key).toBe("workspaces.foo.ports.1");
    expect(e.details?.line).toBe(3);
  });

  test("a port range whose start is above its end is rejected", () => {
    const e = configError("ssh:\n  port_range:\n    start: 5000\n    end: 4000\n");
    expect(e.details?.key).toBe("ssh.port_range");
    expect(e.message).toContain("start must not be above end");
  });

  test("an unknown top-level key is rejected and named", () => {
    const e = configError("daemon:\n  port: 8080\nbogus: 1\n");
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.details?.key).toBe("bogus");
    expect(e.details?.line).toBe(3);
    expect(e.message).toContain("bogus");
  });

  test("an unknown key in a strict section is rejected", () => {
    const e = configError("defaults:\n  idle_timout: 30m\n");
    expect(e.details?.key).toBe("defaults.idle_timout");
    expect(e.details?.line).toBe(2);
  });

  test("ssh.connection.user must be the workspace's login user, nexus (any other could never log in)", () => {
    const e = configError("ssh:\n  connection:\n    user: dev\n");
    expect(e.details).toEqual({ file: FILE, line: 3, key: "ssh.connection.user" });
    expect(e.message).toContain("must be nexus");
  });

  test("a wrong type names the key", () => {
    const e = configError("ssh:\n  connection:\n    user: 7\n");
    expect(e.details).toEqual({ file: FILE, line: 3, key: "ssh.connection.user" });
  });

  test("bad YAML syntax gives the file and the line", () => {
    // Line 3 is indented deeper than its sibling on line 2: a YAML syntax error.
    const e = configError("daemon:\n  port: 1\n   host: x\n");
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.details?.file).toBe(FILE);
    expect(typeof e.details?.line).toBe("number");
    expect([2, 3]).toContain(e.details?.line as number);
    expect(e.message).toMatch(new RegExp(`${FILE.replace(/[/.]/g, "\\$&")}:[23]: `));
  });

  test("an unclosed flow sequence gives the line", () => {
    const e = configError("daemon:\n  host: localhost\n  port: [\n");
    expect(typeof e.details?.line).toBe("number");
  });
});

describe("loadConfig", () => {
  test("a missing file is the defaults", async () => {
    await using dir = tempDir("cfg");
    expect(loadConfig(join(dir.path, "absent.yaml"))).toEqual(parseConfig("", "x.yaml"));
  });

  test("reads the file and reports errors against its path", async () => {
    await using dir = tempDir("cfg");
    const file = join(dir.path, "config.yaml");
    writeFileSync(file, "defaults:\n  image: my-image:1\n");
    expect(loadConfig(file).defaults.image).toBe("my-image:1");
    writeFileSync(file, "defaults:\n  idle_timeout: never\n");
    let caught: NexusError | undefined;
    try {
      loadConfig(file);
    } catch (err) {
      caught = err as NexusError;
    }
    expect(caught?.details).toEqual({ file, line: 2, key: "defaults.idle_timeout" });
  });
});
