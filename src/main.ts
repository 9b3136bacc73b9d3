// argv → daemon (foreground) or CLI. Heavy modules (dockerode, ssh2) load only on the daemon path.
import { stdioFailure, writeStdio } from "./runtime/stdio.ts";
import { isPlainExec } from "./cli/exec-form.ts";
// version and list's path, and the plain exec's, are part of this module's chunk, not chunks of their
// own: importing one when asked cost its command about 0.9 ms (the module loader's first run); here
// they cost the others a few page faults (exec's: exec 909 -> 877, version 817 -> 823).
import { runInstant } from "./cli/instant.ts";
import { runExecLane } from "./cli/exec-lane.ts";

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "daemon" && (argv.length === 1 || (argv[1]!.startsWith("-") && !argv.includes("--help") && !argv.includes("-h")))) {
    // Typed by hand, the daemon starts again in place with the runtime's settings for daemons first.
    await (await import("./daemon/foreground-env.ts")).reexecWithDaemonEnv(argv, process.env);
    const { runDaemonCommand } = await import("./daemon/command.ts");
    return runDaemonCommand(argv.slice(1), process.env);
  }
  if (argv[0] === "ssh-proxy") return (await import("./cli/ssh-proxy.ts")).runSshProxy(argv.slice(1), process.env);
  // The hot path first: the short commands' table (quick.ts) has nothing for exec. The plain form's
  // own path (exec-lane.ts) leaves what it does not do to fast-exec.ts's, before anything ran.
  if (isPlainExec(argv)) {
    const code = await runExecLane(argv, process.env);
    if (code !== undefined) return code;
    return (await import("./cli/fast-exec.ts")).runPlainExec(argv, process.env);
  }
  if (argv[0] === "version" || argv[0] === "list" || argv[0] === "ls") {
    // Their shortest path first (instant.ts); it leaves anything but the expected answer to quick.ts.
    const code = await runInstant(argv, process.env);
    if (code !== undefined) return code;
  }
  const quick = (await import("./cli/quick.ts")).quickCommand(argv, process.env);
  if (quick) return quick();
  const { runCli } = await import("./cli/cli.ts");
  return runCli(argv, process.env);
}

main(process.argv.slice(2)).then(
  async (code) => process.exit(await afterOutput(code)),
  (err: unknown) => {
    process.stderr.write(`nexus: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);

/**
 * The exit code once all output is written: a failed write to stdout or stderr other than EPIPE (a
 * full disk, an I/O error) makes a command that succeeded fail, said on stderr while it still works.
 */
async function afterOutput(code: number): Promise<number> {
  const failure = await stdioFailure();
  if (!failure) return code;
  if (failure.fd === 1) await writeStdio(2, `nexus: could not write to stdout: ${failure.error.message}\n`);
  return code === 0 ? 1 : code;
}
