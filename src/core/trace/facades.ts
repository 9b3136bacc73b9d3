// The one place operations are recorded: the core's façades (workspaces, checkpoints, sessions, port
// forwards) wrapped so that each operation they run — whichever transport called it, REST, gRPC,
// WebSocket or the CLI through REST — leaves one record. Calls inside the core use the unwrapped
// objects, so an operation that uses another (restore stops and starts) is one record, not three.
import { isHookNotDefined } from "../hooks.ts";
import type { CheckpointService } from "../checkpoints/service.ts";
import type { PortForwards } from "../forwards.ts";
import type { SessionService } from "../sessions/service.ts";
import type { WorkspaceService } from "../workspace/service.ts";
import type { OperationTrace } from "./recorder.ts";
import { currentSurface } from "./surface.ts";

type Args = readonly unknown[];
type Who = { workspaceId?: string; workspace?: string; exitCode?: number };

interface OpSpec {
  /** The name the history shows. */
  op: string;
  /** The workspace reference among the arguments (looked up before the call: destroy removes it). */
  ref?: (args: Args) => unknown;
  /** What the result tells (a created workspace's id, an exec's exit code). */
  after?: (result: any) => Who;
  /** A refusal that means nothing was there to run: no record. */
  unrecorded?: (error: unknown) => boolean;
}

const first = (args: Args) => args[0];
const exitCode = (r: { exitCode?: unknown } | undefined): Who => (typeof r?.exitCode === "number" ? { exitCode: r.exitCode } : {});
const workspaceOf = (r: { workspaceId?: unknown } | undefined): Who => (typeof r?.workspaceId === "string" ? { workspaceId: r.workspaceId } : {});

const WORKSPACE_OPS: Record<string, OpSpec> = {
  create: { op: "create", ref: (a) => (a[0] as { name?: unknown } | undefined)?.name, after: (r: { id?: string; name?: string }) => ({ ...(r?.id ? { workspaceId: r.id } : {}), ...(r?.name ? { workspace: r.name } : {}) }) },
  start: { op: "start", ref: first },
  stop: { op: "stop", ref: first },
  restart: { op: "restart", ref: first },
  pause: { op: "pause", ref: first },
  resume: { op: "resume", ref: first },
  update: { op: "update", ref: first },
  destroy: { op: "destroy", ref: first },
  exec: { op: "exec", ref: first, after: exitCode },
  execCollect: { op: "exec", ref: first, after: exitCode },
  // A hook the workspace does not define: every interactive console or ssh asks for post-attach.
  runHook: { op: "hook", ref: first, unrecorded: isHookNotDefined },
  restartService: { op: "service.restart", ref: first },
  switch: { op: "switch", ref: first },
  rotateKeys: { op: "ssh.rotate-keys", ref: first },
};

const CHECKPOINT_OPS: Record<string, OpSpec> = {
  create: { op: "checkpoint", ref: first },
  restore: { op: "restore", ref: (a) => a[1], after: workspaceOf },
  delete: { op: "checkpoint.delete", ref: (a) => a[1], after: workspaceOf },
};

const SESSION_OPS: Record<string, OpSpec> = {
  create: { op: "session.create", ref: (a) => (a[0] as { workspace?: unknown } | undefined)?.workspace },
  kill: { op: "session.kill", after: workspaceOf },
};

const FORWARD_OPS: Record<string, OpSpec> = {
  add: { op: "port.forward", ref: first },
  makePublic: { op: "port.public", ref: first },
  remove: { op: "port.unforward", ref: first },
};

export interface Facades {
  workspaces: WorkspaceService;
  checkpoints: CheckpointService;
  sessions: SessionService;
  forwards: PortForwards;
}

/** The façades the transports get: the same objects, recording their operations in `trace`. */
export function tracedFacades<F extends Pick<Facades, "workspaces"> & Partial<Facades>>(f: F, trace: OperationTrace): F {
  if (!trace.enabled) return f;
  const who = (ref: unknown): Who => {
    if (typeof ref !== "string" || ref === "") return {};
    try {
      const r = f.workspaces.resolve(ref);
      return { workspaceId: r.id, workspace: r.name };
    } catch {
      return { workspace: ref.slice(0, 100) };
    }
  };
  return {
    ...f,
    workspaces: traced(f.workspaces, WORKSPACE_OPS, trace, who),
    ...(f.checkpoints ? { checkpoints: traced(f.checkpoints, CHECKPOINT_OPS, trace, who) } : {}),
    ...(f.sessions ? { sessions: traced(f.sessions, SESSION_OPS, trace, who) } : {}),
    ...(f.forwards ? { forwards: traced(f.forwards, FORWARD_OPS, trace, who) } : {}),
  };
}

/**
 * `target` with the methods of `ops` recorded. Other members pass through, bound to the target
 * (the services keep #private fields, which a Proxy as `this` could not reach).
 */
export function traced<T extends object>(target: T, ops: Record<string, OpSpec>, trace: OperationTrace, who: (ref: unknown) => Who): T {
  return new Proxy(target, {
    get(t, prop) {
      const value = Reflect.get(t, prop, t) as unknown;
      if (typeof value !== "function") return value;
      const spec = typeof prop === "string" && Object.hasOwn(ops, prop) ? ops[prop] : undefined;
      if (!spec) return value.bind(t);
      return (...args: unknown[]) => {
        const span = trace.begin(spec.op, currentSurface(), spec.ref ? who(spec.ref(args)) : {});
        const after = (result: unknown): Who => {
          try {
            const w = spec.after?.(result) ?? {};
            return w.workspaceId && !w.workspace ? { ...who(w.workspaceId), ...w } : w;
          } catch {
            return {};
          }
        };
        const failed = (error: unknown) => {
          if (!spec.unrecorded?.(error)) span.end({ error });
        };
        let out: unknown;
        try {
          out = value.apply(t, args);
        } catch (error) {
          failed(error);
          throw error;
        }
        if (out instanceof Promise) {
          return out.then(
            (result) => {
              span.end(after(result));
              return result;
            },
            (error: unknown) => {
              failed(error);
              throw error;
            },
          );
        }
        span.end(after(out));
        return out;
      };
    },
  });
}
