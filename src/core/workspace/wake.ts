// Operations that need a running workspace (exec, files, hooks, service logs and restarts, terminals)
// resume a paused one first, as ssh and forwards do: idleness pauses workspaces after 30 minutes by
// default, and a script must not break over a coffee break. The caller is told it happened (a line on
// stderr in the CLI, `resumed` in JSON answers). A stopped workspace is not started behind the user's back.
import type { WorkspaceContext } from "./context.ts";
import type { WorkspaceLifecycle } from "./lifecycle.ts";

export interface Resumed {
  /** How long the resume took. */
  durationMs: number;
}

export class AutoResume {
  readonly #c: WorkspaceContext;
  readonly #lifecycle: WorkspaceLifecycle;

  constructor(c: WorkspaceContext, lifecycle: WorkspaceLifecycle) {
    this.#c = c;
    this.#lifecycle = lifecycle;
  }

  /** Resumes `ref` when it is paused (services are not waited for); undefined when it was not. */
  async ifPaused(ref: string): Promise<Resumed | undefined> {
    const r = this.#c.resolve(ref);
    if (r.status !== "paused") return undefined;
    const res = await this.#lifecycle.resume(r.id, { blocking: false });
    this.#c.d.log.info(`${r.name}: resumed for an operation that needs it running (${res.durationMs} ms)`);
    return { durationMs: res.durationMs };
  }
}
