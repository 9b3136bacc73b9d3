// `nexus create` with no name on a terminal: asks for what the flags would say, shows a summary,
// and creates with a spinner. Ctrl-C at any question cancels with nothing made.
import { spawnSync } from "node:child_process";
import type { Writable } from "node:stream";
import { findDevcontainers } from "../config/devcontainer/find.ts";
import { NAME_PATTERN } from "../core/names.ts";
import type { CreateFlags } from "./commands/workspaces.ts";
import { promptOutput } from "./prompt-output.ts";

export interface WizardAnswers {
  name: string;
  flags: CreateFlags;
}

const PRESETS = ["small", "medium", "large", "xlarge"] as const;

/** Why a name is refused, or undefined when it is fine (the pattern of src/core/names.ts). */
export function nameProblem(value: string | undefined): string | undefined {
  const v = value ?? "";
  if (v === "") return "A name is needed";
  if (NAME_PATTERN.test(v)) return undefined;
  if (/[A-Z]/.test(v)) return "Lowercase only";
  if (!/^[a-z0-9]/.test(v)) return "Start with a letter or digit";
  if (v.length > 63) return "At most 63 characters";
  return "Only lowercase letters, digits and '-'";
}

function portsProblem(value: string | undefined): string | undefined {
  for (const p of (value ?? "").split(/[\s,]+/).filter(Boolean)) {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) return `'${p}' is not a port (1-65535)`;
  }
  return undefined;
}

/** Asks the questions; resolves undefined when the user cancels (Ctrl-C or no at the summary). */
export async function runCreateWizard(given: CreateFlags, currentBranch: string | undefined, taken: ReadonlySet<string> = new Set()): Promise<WizardAnswers | undefined> {
  const p = await import("@clack/prompts");
  const output = promptOutput();
  const cancelled = () => {
    p.cancel("Cancelled; nothing was created", { output });
    return undefined;
  };
  p.intro("Create a Nexus workspace", { output });
  const name = await askName(taken, output);
  if (name === undefined) return cancelled();

  const source = await p.select({
    message: "Repository",
    options: [
      { value: "here", label: "This repository", hint: process.cwd() },
      { value: "url", label: "Clone a repository URL" },
    ],
    initialValue: given.repo ? "url" : "here",
    output,
  });
  if (p.isCancel(source)) return cancelled();
  const backend = await p.select({
    message: "Backend",
    options: [
      { value: "docker", label: "docker", hint: "a container on this machine's Docker engine" },
      { value: "sprite", label: "sprite", hint: "not available in this version", disabled: true },
    ],
    initialValue: "docker",
    output,
  });
  if (p.isCancel(backend)) return cancelled();
  let repo: string | undefined;
  if (source === "url") {
    const r = await p.text({ message: "Repository URL", placeholder: "https://github.com/org/repo.git", initialValue: given.repo ?? "", validate: (v) => (v ? undefined : "A URL is needed"), output });
    if (p.isCancel(r)) return cancelled();
    repo = r;
  }
  const branch = await p.text({ message: "Branch of the worktree", defaultValue: `nexus/${name}`, placeholder: `nexus/${name}`, output });
  if (p.isCancel(branch)) return cancelled();
  const fromBranch = await p.text({
    message: "Base branch (for a new branch)",
    defaultValue: given.fromBranch ?? currentBranch ?? "",
    placeholder: given.fromBranch ?? currentBranch ?? "the repository's current branch",
    output,
  });
  if (p.isCancel(fromBranch)) return cancelled();
  const resources = await p.select({
    message: "Resources",
    options: PRESETS.map((r) => ({ value: r, label: r, hint: { small: "1 CPU, 2 GB", medium: "2 CPU, 4 GB", large: "4 CPU, 8 GB", xlarge: "8 CPU, 16 GB" }[r] })),
    initialValue: (given.resources as (typeof PRESETS)[number] | undefined) ?? "medium",
    output,
  });
  if (p.isCancel(resources)) return cancelled();
  const ports = await p.text({ message: "Container ports to publish (comma separated, optional)", placeholder: "3000, 5173", defaultValue: "", validate: portsProblem, output });
  if (p.isCancel(ports)) return cancelled();
  const image = await p.text({ message: "Base image (optional)", placeholder: "the config's defaults.image", defaultValue: given.image ?? "", output });
  if (p.isCancel(image)) return cancelled();
  // A repository with several devcontainer.json files: which one (create refuses to guess).
  let devcontainer = given.devcontainer;
  const found = source === "here" && !devcontainer ? findDevcontainers(repositoryRoot()) : [];
  if (found.length > 1) {
    const pick = await p.select({ message: "devcontainer.json", options: found.map((f) => ({ value: f, label: f })), output });
    if (p.isCancel(pick)) return cancelled();
    devcontainer = pick;
  }
  // A cloned repository's initializeCommand would run on this machine: ask now, the spinner cannot.
  let trust = given.trust;
  if (repo && trust === undefined) {
    const t = await p.confirm({ message: "If its devcontainer.json has an initializeCommand, run it on this machine?", initialValue: false, output });
    if (p.isCancel(t)) return cancelled();
    trust = t;
  }

  const portList = ports.split(/[\s,]+/).filter(Boolean).map(Number);
  const flags: CreateFlags = {
    ...given,
    backend,
    ...(repo ? { repo } : {}),
    branch,
    ...(fromBranch ? { fromBranch } : {}),
    resources,
    ...(portList.length ? { port: portList } : {}),
    ...(image ? { image } : {}),
    ...(devcontainer ? { devcontainer } : {}),
    ...(trust !== undefined ? { trust } : {}),
  };
  p.note(
    [
      `name        ${name}`,
      `repository  ${repo ?? process.cwd()}`,
      `backend     ${backend}`,
      `branch      ${branch}${fromBranch ? ` (from ${fromBranch})` : ""}`,
      `resources   ${resources}`,
      `ports       ${portList.join(", ") || "-"}`,
      `image       ${image || "default"}`,
      ...(devcontainer ? [`devcontainer ${devcontainer}`] : []),
    ].join("\n"),
    "Summary",
    { output },
  );
  const ok = await p.confirm({ message: "Create it?", output });
  if (p.isCancel(ok) || !ok) return cancelled();
  return { name, flags };
}

function repositoryRoot(): string {
  const r = spawnSync("git", ["rev-parse", "--show-toplevel"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return r.status === 0 ? r.stdout.trim() : process.cwd();
}

/**
 * The name, checked as it is typed: the line under the input says what is wrong with it (or that
 * it is fine) at every key, and Enter accepts only a valid name.
 */
async function askName(taken: ReadonlySet<string>, output: Writable): Promise<string | undefined> {
  const [{ TextPrompt, isCancel }, p] = await Promise.all([import("@clack/core"), import("@clack/prompts")]);
  // A name already taken is refused here, not after seven more questions.
  const problem = (v: string | undefined) => nameProblem(v) ?? (taken.has(v!) ? `A workspace named '${v}' already exists` : undefined);
  const prompt = new TextPrompt({
    output,
    validate: problem,
    render() {
      const typed = this.userInput;
      const title = "Workspace name";
      if (this.state === "submit") return `${p.S_STEP_SUBMIT}  ${title}\n${p.S_BAR}  ${this.value ?? ""}`;
      if (this.state === "cancel") return `${p.S_STEP_CANCEL}  ${title}\n${p.S_BAR}  ${typed}`;
      const wrong = typed ? problem(typed) : undefined;
      const hint = !typed ? "lowercase letters, digits and '-', e.g. feature-auth" : wrong ? `✗ ${wrong}` : "✓ a valid name";
      const mark = this.state === "error" || wrong ? p.S_STEP_ERROR : p.S_STEP_ACTIVE;
      return `${mark}  ${title}\n${p.S_BAR}  ${this.userInputWithCursor}\n${p.S_BAR_END}  ${hint}`;
    },
  });
  const answer = await prompt.prompt();
  return isCancel(answer) || answer === undefined ? undefined : String(answer);
}

/** Runs `create` under a spinner that shows the daemon's progress lines. */
export async function withSpinner<T>(title: string, work: (progress: (line: string) => void) => Promise<T>): Promise<T> {
  const p = await import("@clack/prompts");
  const s = p.spinner({ output: promptOutput() });
  s.start(title);
  try {
    const result = await work((line) => s.message(line.replace(/\u001b\[[0-9;]*m/g, "").trim()));
    s.stop("Created");
    return result;
  } catch (err) {
    s.error("Create failed");
    throw err;
  }
}
