// A command run once in a throwaway container of an image, its standard output streamed back: how
// the daemon reads a checkpoint image's files (tar of the changed paths, a listing of them) without
// one engine archive call per path.
import { PassThrough, Writable } from "node:stream";
import type { DockerEngine } from "./engine.ts";

/**
 * Runs `entrypoint cmd` in a new container of `image` (root, no network, no log kept) and streams its
 * standard output. Answers undefined when the container cannot start (the image lacks the program).
 * `done` waits for its end (an exit other than 0 rejects, with its standard error) and removes the
 * container; call it in any case (with false when the stream was not read to its end).
 */
export async function runInImage(
  engine: DockerEngine,
  image: string,
  entrypoint: string[],
  cmd: string[],
  labels: Record<string, string>,
  timeoutMs = 600_000,
): Promise<{ stream: NodeJS.ReadableStream; done: (read: boolean) => Promise<void> } | undefined> {
  const d = engine.docker;
  const c = await engine.call("create container", () =>
    d.createContainer({
      Image: image,
      User: "0:0",
      Entrypoint: entrypoint,
      Cmd: cmd,
      Labels: labels,
      NetworkDisabled: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      HostConfig: { LogConfig: { Type: "none", Config: {} }, PidsLimit: 64 },
    }),
  );
  const remove = () => c.remove({ force: true }).catch(() => {});
  const out = new PassThrough();
  let stderr = "";
  const errSink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (stderr.length < 4096) stderr += chunk.toString("utf8");
      cb();
    },
  });
  let attached: NodeJS.ReadableStream;
  try {
    attached = (await engine.call("attach to container", () => c.attach({ stream: true, stdout: true, stderr: true }))) as NodeJS.ReadableStream;
  } catch (err) {
    await remove();
    throw err;
  }
  d.modem.demuxStream(attached, out, errSink);
  attached.on("end", () => out.end());
  attached.on("error", (err: Error) => out.destroy(err));
  try {
    await c.start();
  } catch {
    (attached as unknown as { destroy?: () => void }).destroy?.();
    await remove();
    return undefined;
  }
  const timer = setTimeout(() => void c.kill().catch(() => {}), timeoutMs);
  const exited = c.wait() as Promise<{ StatusCode: number }>;
  exited.catch(() => {}); // awaited in done()
  return {
    stream: out,
    done: async (read) => {
      try {
        // Not read to its end (a failure here): the program would wait on a full pipe until killed.
        if (!read) await c.kill().catch(() => {});
        const { StatusCode } = await engine.call("wait for container", () => exited);
        if (StatusCode !== 0) throw new Error(`'${entrypoint.join(" ")}' in ${image} exited ${StatusCode}: ${stderr.trim().slice(0, 500)}`);
      } finally {
        clearTimeout(timer);
        await remove();
      }
    },
  };
}
