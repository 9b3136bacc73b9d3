// The images a workspace runs on, built on the engine: the workspace image from the Dockerfile held in
// the binary, a project's own Dockerfile, and local Dev Container Features on top of a base. Each is
// tagged by the content of its build context, so an unchanged one is never built twice.
import { createHash } from "node:crypto";
import { basename, dirname, relative } from "node:path";
import type Docker from "dockerode";
import { NexusError } from "../kernel/errors.ts";
import { readUntrustedBufferSync } from "../fs/untrusted-files.ts";
import type { ProgressSink } from "../kernel/progress.ts";
import { BuildProgress } from "./build-progress.ts";
import { contextEntries } from "./build-context.ts";
import { IMAGE_CONTEXT_FILES } from "./image-context.ts";
import { LABELS } from "./labels.ts";
import { shellQuote } from "../ssh/quote.ts";
import { tar, type TarEntry } from "./tar.ts";

export const DEFAULT_BASE_IMAGE = "debian:bookworm-slim";
export const DEFAULT_WORKSPACE_IMAGE = "nexus-workspace:latest";

/** An engine call whose failures come back as NexusErrors (DockerEngine.call). */
export type EngineCall = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

/** Image builds on one engine; concurrent callers of one workspace image share its build. */
export class ImageBuilds {
  readonly #docker: Docker;
  readonly #call: EngineCall;
  readonly #builds = new Map<string, Promise<string>>();

  constructor(docker: Docker, call: EngineCall) {
    this.#docker = docker;
    this.#call = call;
  }

  /**
   * The workspace image for `base`, built from the Dockerfile held in the binary when missing or
   * when the embedded context changed. Concurrent callers share one build.
   */
  ensureWorkspaceImage(base: string, progress: ProgressSink): Promise<string> {
    // Tagged by content: two Nexus builds sharing an engine each keep their own image instead of
    // rebuilding one shared tag back and forth. `:latest` follows the newest build on the default base.
    const hash = contextHash(base);
    const tag = `nexus-workspace:${hash}`;
    const running = this.#builds.get(hash);
    if (running) return running;
    const build = this.#ensureImage(base, tag, hash, progress).finally(() => this.#builds.delete(hash));
    this.#builds.set(hash, build);
    return build;
  }

  async #ensureImage(base: string, tag: string, hash: string, progress: ProgressSink): Promise<string> {
    const existing = await this.#call("inspect image", () =>
      this.#docker
        .getImage(tag)
        .inspect()
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode === 404) return undefined;
          throw err;
        }),
    );
    if (existing?.Config?.Labels?.[LABELS.imageContext] === hash) return tag;
    progress({ phase: "image", message: `Building the workspace image ${tag} from ${base} (first use of this build; a minute or two)` });
    const context = tar(Object.entries(IMAGE_CONTEXT_FILES).map(([name, f]): TarEntry => ({ name, content: f.content, mode: f.mode })));
    const stream = await this.#call("build image", () =>
      this.#docker.buildImage(context as unknown as NodeJS.ReadableStream, {
        t: tag,
        buildargs: { BASE_IMAGE: base },
        // No dev.nexus.managed here: containers inherit image labels, and only Nexus's own containers may carry it.
        labels: { [LABELS.imageContext]: hash },
        rm: true,
        forcerm: true,
      }),
    );
    await this.#followBuild(stream, progress, (failed, tail) => {
      // dpkg refuses to run without the tools it execs (tar above all): a minimal base cannot take apt-get.
      const missing = tail.map((l) => /dpkg: warning: '([^']+)' not found in PATH/.exec(l)?.[1]).filter(Boolean);
      return new NexusError("CONTAINER_ERROR", `Building the workspace image on ${base} failed: ${failed.trim()}${missing.length ? ` (dpkg found no ${missing.join(", ")} in the base image)` : ""}`, {
        suggestion: missing.length
          ? `The workspace image installs sshd, git and sudo on the base with apt-get, and dpkg needs ${missing.join(", ")} there: use a base that keeps them (add them back in its Dockerfile)`
          : `Make sure the base image is available ('docker pull ${base}'; with no registry: scripts/docker-up.sh makes it from Debian packages)`,
        details: { baseImage: base, buildLog: tail },
      });
    });
    if (base === DEFAULT_BASE_IMAGE) {
      const [repo, latest] = DEFAULT_WORKSPACE_IMAGE.split(":") as [string, string];
      await this.#call("tag image", () => this.#docker.getImage(tag).tag({ repo, tag: latest }));
    }
    return tag;
  }

  /** Follows a build to its end; a failure gets the engine's error and the build's last output lines. */
  #followBuild(stream: NodeJS.ReadableStream, progress: ProgressSink, failure: (message: string, tail: string[]) => NexusError): Promise<void> {
    const lines = new BuildProgress(progress);
    const tail: string[] = [];
    return new Promise<void>((resolve, reject) => {
      this.#docker.modem.followProgress(
        stream,
        (err: Error | null, output: Array<{ error?: string }>) => {
          const failed = err?.message ?? output.find((o) => o.error)?.error;
          if (failed) reject(failure(failed, tail));
          else resolve();
        },
        (event: { stream?: string }) => {
          if (!event.stream) return;
          lines.feed(event.stream);
          for (const l of event.stream.split("\n")) if (l.trim()) tail.push(l.trim());
          tail.splice(0, Math.max(0, tail.length - 12));
        },
      );
    });
  }

  /**
   * Builds a project's own Dockerfile (`dockerfile:` in .nexus/workspace.yaml) with its folder as the
   * context; the workspace image is then built on top of it. Tagged by the context's content, so an
   * unchanged Dockerfile is not built again.
   */
  async buildProjectImage(dockerfile: string, progress: ProgressSink, opts: { context?: string; args?: Record<string, string>; target?: string } = {}): Promise<string> {
    const dir = opts.context ?? dirname(dockerfile);
    const entries = contextEntries(dir, { dockerignore: true, keep: [relative(dir, dockerfile)] });
    // A Dockerfile outside its context (devcontainer.json allows that) travels in the context under a name of its own.
    let name = relative(dir, dockerfile);
    if (name.startsWith("..")) {
      name = ".nexus-project.Dockerfile";
      entries.push({ name, content: readUntrustedBufferSync(dirname(dockerfile), basename(dockerfile)) ?? Buffer.alloc(0), mode: 0o644 });
    }
    const buildargs = opts.args ?? {};
    const context = tar(entries);
    const hash = createHash("sha256").update(context).update(JSON.stringify([name, buildargs, opts.target ?? null])).digest("hex").slice(0, 16);
    const tag = `nexus-project:${hash}`;
    const existing = await this.#docker.getImage(tag).inspect().catch(() => undefined);
    if (existing) return tag;
    progress({ phase: "image", message: `Building the project image ${tag} from ${dockerfile}` });
    const stream = await this.#call("build project image", () =>
      this.#docker.buildImage(context as unknown as NodeJS.ReadableStream, {
        t: tag,
        dockerfile: name,
        labels: { [LABELS.imageContext]: hash },
        rm: true,
        forcerm: true,
        ...(Object.keys(buildargs).length > 0 ? { buildargs } : {}),
        ...(opts.target ? { target: opts.target } : {}),
      }),
    );
    await this.#followBuild(stream, progress, (failed) =>
      new NexusError("CONTAINER_ERROR", `Building the project image from ${dockerfile} failed: ${failed.trim()}`, {
        suggestion: `Fix ${dockerfile} (the workspace image is built on top of it; it must be Debian-based)`,
        details: { dockerfile },
      }),
    );
    return tag;
  }

  /**
   * An image of `base` plus local Dev Container Features: each feature folder is copied in and its
   * install.sh run as root with the options as environment variables (the spec's install model).
   */
  async buildFeaturesImage(base: string, features: ReadonlyArray<{ id: string; dir: string; options: Record<string, string>; containerEnv: Record<string, string> }>, progress: ProgressSink): Promise<string> {
    const entries: TarEntry[] = [];
    const lines = [`FROM ${base}`, "USER root"];
    features.forEach((f, i) => {
      const folder = `features/${i}-${f.id.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
      entries.push({ name: "features", type: "dir", mode: 0o755 }, ...contextEntries(f.dir).map((e) => ({ ...e, name: `${folder}/${e.name}` })));
      // The user the features set up: Nexus's own user does not exist yet (the workspace image adds it on top).
      const env = { ...f.options, _REMOTE_USER: "root", _REMOTE_USER_HOME: "/root", _CONTAINER_USER: "root", _CONTAINER_USER_HOME: "/root" };
      // One Dockerfile line each: values are shell-quoted for RUN; ENV takes JSON strings, with `$` escaped from its own expansion.
      const assignments = Object.entries(env).map(([k, v]) => shellQuote(`${k}=${v.replace(/\n/g, " ")}`)).join(" ");
      lines.push(`COPY ${folder} /tmp/nexus-features/${i}`, `RUN cd /tmp/nexus-features/${i} && chmod +x install.sh && env ${assignments} ./install.sh && rm -rf /tmp/nexus-features/${i}`);
      const containerEnv = Object.entries(f.containerEnv);
      if (containerEnv.length > 0) lines.push(`ENV ${containerEnv.map(([k, v]) => `${k}=${JSON.stringify(v.replace(/\n/g, " ")).replace(/\$/g, "\\$")}`).join(" ")}`);
    });
    entries.push({ name: "Dockerfile", content: lines.join("\n") + "\n", mode: 0o644 });
    const context = tar(entries);
    const hash = createHash("sha256").update(context).digest("hex").slice(0, 16);
    const tag = `nexus-features:${hash}`;
    if (await this.#docker.getImage(tag).inspect().catch(() => undefined)) return tag;
    progress({ phase: "image", message: `Installing the features ${features.map((f) => f.id).join(", ")} on ${base}` });
    const stream = await this.#call("build features image", () =>
      this.#docker.buildImage(context as unknown as NodeJS.ReadableStream, { t: tag, labels: { [LABELS.imageContext]: hash }, rm: true, forcerm: true }),
    );
    await this.#followBuild(stream, progress, (failed) =>
      new NexusError("CONTAINER_ERROR", `Installing the features ${features.map((f) => f.id).join(", ")} failed: ${failed.trim()}`, {
        suggestion: "Fix the feature's install.sh (it runs as root, with its options as environment variables)",
        details: { baseImage: base, features: features.map((f) => f.dir) },
      }),
    );
    return tag;
  }
}

/** Identifies the embedded build context on a base: any change to the Dockerfile or its files changes it. */
export function contextHash(base: string): string {
  const h = createHash("sha256").update(base);
  for (const [name, f] of Object.entries(IMAGE_CONTEXT_FILES)) h.update(`\0${name}\0${f.mode}\0${f.content}`);
  return h.digest("hex").slice(0, 16);
}
