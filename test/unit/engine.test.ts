import { describe, expect, test } from "bun:test";
import { NexusError } from "../../src/core/errors.ts";
import { contextHash, demuxToText, DockerEngine } from "../../src/docker/engine.ts";
import { IMAGE_CONTEXT_FILES } from "../../src/docker/image-context.ts";
import { instanceId, LABELS } from "../../src/docker/labels.ts";

function frame(stream: 0 | 1 | 2, text: string | Buffer): Buffer {
  const body = typeof text === "string" ? Buffer.from(text) : text;
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

describe("contextHash", () => {
  test("is 16 hex digits and stable for the same base", () => {
    const h = contextHash("debian:bookworm-slim");
    expect(h).toMatch(/^[0-9a-f]{16}$/);
    expect(contextHash("debian:bookworm-slim")).toBe(h);
  });

  test("differs between bases", () => {
    expect(contextHash("debian:bookworm-slim")).not.toBe(contextHash("debian:trixie-slim"));
    expect(contextHash("a")).not.toBe(contextHash("b"));
  });

  test("changes when a file of the embedded build context changes (content or mode)", () => {
    const files = IMAGE_CONTEXT_FILES as Record<string, { content: string; mode: number }>;
    const original = files.Dockerfile!;
    const before = contextHash("debian:bookworm-slim");
    try {
      files.Dockerfile = { content: original.content + "# changed\n", mode: original.mode };
      expect(contextHash("debian:bookworm-slim")).not.toBe(before);
      files.Dockerfile = { content: original.content, mode: 0o600 };
      expect(contextHash("debian:bookworm-slim")).not.toBe(before);
    } finally {
      files.Dockerfile = original;
    }
    expect(contextHash("debian:bookworm-slim")).toBe(before);
  });
});

describe("demuxToText", () => {
  const modem = new DockerEngine({ env: {} }).docker.modem;
  const demux = (buf: Buffer) => demuxToText(modem, buf);
  test("joins stdout and stderr frames in order", () => {
    const buf = Buffer.concat([frame(1, "out 1\n"), frame(2, "err 1\n"), frame(1, "out 2\n")]);
    expect(demux(buf)).toBe("out 1\nerr 1\nout 2\n");
  });

  test("handles empty frames and multi-byte characters", () => {
    expect(demux(Buffer.concat([frame(1, ""), frame(1, "ünï 🚀")]))).toBe("ünï 🚀");
  });

  test("unframed (tty) logs are returned as they are", () => {
    expect(demux(Buffer.from("just text\nmore\n"))).toBe("just text\nmore\n");
  });

  test("an empty buffer is empty text", () => {
    expect(demux(Buffer.alloc(0))).toBe("");
  });

  test("a truncated last frame (never sent by Docker for finished logs) leaves the whole frames", () => {
    const full = frame(1, "complete\n");
    const partial = frame(2, "cut short here").subarray(0, 8 + 4);
    expect(demux(Buffer.concat([full, partial]))).toBe("complete\n");
  });
});

describe("labels", () => {
  test("instanceId is a stable 12-hex digest per NEXUS_HOME", () => {
    expect(instanceId("/home/a/.nexus")).toMatch(/^[0-9a-f]{12}$/);
    expect(instanceId("/home/a/.nexus")).toBe(instanceId("/home/a/.nexus"));
    expect(instanceId("/home/a/.nexus")).not.toBe(instanceId("/home/b/.nexus"));
  });

  test("label keys are namespaced under dev.nexus", () => {
    for (const key of Object.values(LABELS)) expect(key).toStartWith("dev.nexus.");
    expect(LABELS.workspaceId).toBe("dev.nexus.workspace.id");
    expect(LABELS.workspaceName).toBe("dev.nexus.workspace.name");
  });
});

describe("DockerEngine without an engine", () => {
  // A socket path that does not exist: nothing is contacted, the connect fails at once.
  const engine = () => new DockerEngine({ host: "unix:///nonexistent/nexus-test-docker.sock", env: {} });

  test("reports where it points", () => {
    expect(engine().address).toBe("unix:///nonexistent/nexus-test-docker.sock");
  });

  test("ping fails as BACKEND_UNAVAILABLE naming the address", async () => {
    const err = await engine().ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NexusError);
    expect((err as NexusError).code).toBe("BACKEND_UNAVAILABLE");
    expect((err as NexusError).retryable).toBe(true);
    expect((err as NexusError).message).toContain("/nonexistent/nexus-test-docker.sock");
    expect((err as NexusError).details).toEqual({ dockerHost: "unix:///nonexistent/nexus-test-docker.sock" });
  });

  test("engine calls fail as BACKEND_UNAVAILABLE, not as INTERNAL_ERROR", async () => {
    const e = engine();
    for (const call of [() => e.listContainers({}), () => e.removeVolume("v"), () => e.ensureWorkspaceImage("debian:bookworm-slim", () => {})]) {
      const err = await call().catch((x: unknown) => x);
      expect(err).toBeInstanceOf(NexusError);
      expect((err as NexusError).code).toBe("BACKEND_UNAVAILABLE");
    }
  });

  test("logsTail of an unreachable engine is empty rather than an error", async () => {
    expect(await engine().logsTail("abc", 5)).toBe("");
  });

  test("an unsupported DOCKER_HOST is refused at construction", () => {
    expect(() => new DockerEngine({ env: { DOCKER_HOST: "ftp://x" } })).toThrow(/unsupported docker host/);
  });
});
