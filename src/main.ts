// argv → daemon (foreground) or CLI. Heavy modules (dockerode, ssh2) load only on the daemon path.

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "daemon" && (argv.length === 1 || (argv[1]!.startsWith("-") && !argv.includes("--help") && !argv.includes("-h")))) {
    const { runDaemonCommand } = await import("./daemon/command.ts");
    return runDaemonCommand(argv.slice(1), process.env);
  }
  if (argv[0] === "ssh-proxy") return (await import("./cli/ssh-proxy.ts")).runSshProxy(argv.slice(1), process.env);
  const quick = (await import("./cli/quick.ts")).quickCommand(argv, process.env);
  if (quick) return quick();
  const fast = await import("./cli/fast-exec.ts");
  if (fast.isPlainExec(argv)) return fast.runPlainExec(argv, process.env);
  const { runCli } = await import("./cli/cli.ts");
  return runCli(argv, process.env);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`nexus: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
