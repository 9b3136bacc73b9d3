export type FetchHandler = (req: Request) => Response | Promise<Response>;

export interface Server {
  /** Stops accepting; in-flight requests may finish (bounded by the caller). */
  stop(): Promise<void>;
}

/** What differs between Bun and Deno; everything else uses web standards and node: modules. */
export interface Runtime {
  name: "bun" | "deno";
  serveUnix(path: string, fetch: FetchHandler): Promise<Server>;
  /** fetch() over a unix socket: the CLI's way to the local daemon. */
  fetchUnix(socketPath: string, url: string, init: RequestInit): Promise<Response>;
  /** argv (and cwd) that run this same program again, e.g. to start the daemon in the background. */
  selfCommand(): { argv: string[]; cwd?: string };
}
