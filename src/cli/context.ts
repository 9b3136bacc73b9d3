import { errors } from "../core/errors.ts";
import { readActiveRef } from "../store/active-ref.ts";
import type { NexusPaths } from "../store/paths.ts";
import { DaemonClient } from "./client.ts";
import { localClient } from "./local-daemon.ts";
import { useColor, writeErr } from "./output.ts";

export interface GlobalOptions {
  json?: boolean;
  url?: string;
  token?: string;
}

/** What every command gets: output mode, paths, and a client to a daemon that answers. */
export class CliContext {
  readonly paths: NexusPaths;
  readonly json: boolean;
  readonly #url: string | undefined;
  readonly #token: string | undefined;
  #client: Promise<DaemonClient> | undefined;

  constructor(paths: NexusPaths, opts: GlobalOptions, env: Record<string, string | undefined>) {
    this.paths = paths;
    this.json = opts.json === true;
    this.#url = opts.url ?? env.NEXUS_URL;
    this.#token = opts.token ?? env.NEXUS_TOKEN;
  }

  #color: boolean | undefined;

  /** Colour on stdout: asked only when something is painted (isatty is not free under Bun; stdio.ts). */
  get color(): boolean {
    return (this.#color ??= !this.json && useColor(1));
  }

  /** Progress and logs: stderr, so stdout stays clean for --json and pipes. */
  log(line: string): Promise<void> {
    return writeErr(line.endsWith("\n") ? line : line + "\n");
  }

  /** A remote daemon (-u/--url) is used as given; a local one is started when none answers. */
  client(): Promise<DaemonClient> {
    this.#client ??= this.#url
      ? Promise.resolve(new DaemonClient({ url: this.#url, ...(this.#token ? { token: this.#token } : {}) }))
      : Promise.resolve(localClient(this.paths, (l) => void this.log(l)));
    return this.#client;
  }

  /** A daemon given with -u/--url (or NEXUS_URL), not the local one. */
  get remote(): boolean {
    return this.#url !== undefined;
  }

  /** The daemon the commands talk to (-u/--url, else the local socket), asked without starting one. */
  probeClient(): DaemonClient {
    return this.#url ? new DaemonClient({ url: this.#url, ...(this.#token ? { token: this.#token } : {}) }) : new DaemonClient({ socketPath: this.paths.daemonSocket });
  }

  /** `[workspace] <thing>` arguments: with one word, it is the thing, on the active workspace. */
  workspaceAnd(args: readonly string[], what: string, usage: string): [string, string] {
    if (args.length >= 2) return [args[0]!, args[1]!];
    if (args.length === 1) return [this.workspace(undefined), args[0]!];
    throw errors.invalidArgument(`A ${what} is needed`, `Run '${usage}'`);
  }

  /** The workspace argument, or the active workspace when it is left out. */
  workspace(arg: string | undefined): string {
    if (arg) return arg;
    const active = readActiveRef(this.paths);
    if (active) return active;
    throw errors.invalidArgument("No workspace given, and no workspace is active", "Pass a workspace name (see 'nexus list'), or make one active with 'nexus use <name>'");
  }
}
