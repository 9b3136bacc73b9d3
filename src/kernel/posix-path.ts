// POSIX path joining as node:path does it, for the CLI's start path: Bun evaluates node:path (and
// node:os) on first import, which costs a short command more than its own work. Same results as
// path.posix.join / path.posix.resolve (test/unit/posix-path.test.ts compares them).

/** Collapses `.`, `..` and repeated or trailing slashes; an absolute path stays absolute. */
export function normalizePosix(path: string): string {
  // An absolute path with nothing to collapse is its own answer (NEXUS_HOME, HOME: nearly always),
  // told by a few searches: splitting and joining it cost `nexus version` about 0.25 ms the first time.
  if (isNormalAbsolute(path)) return path;
  const absolute = path.startsWith("/");
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(seg);
  }
  const joined = out.join("/");
  return absolute ? `/${joined}` : joined || ".";
}

/** Whether an absolute path has no empty, `.` or `..` segment and no trailing slash ("/" itself has none). */
function isNormalAbsolute(path: string): boolean {
  if (path === "/") return true;
  return (
    path.startsWith("/") &&
    !path.endsWith("/") &&
    !path.endsWith("/.") &&
    !path.endsWith("/..") &&
    !path.includes("//") &&
    !path.includes("/./") &&
    !path.includes("/../")
  );
}

/** path.posix.join (without its trailing slash): the parts joined with `/`, then normalized. */
export function joinPosix(...parts: string[]): string {
  // A loop rather than filter and join: nexusPaths joins HOME and .nexus first thing in every command.
  let joined = "";
  for (let i = 0; i < parts.length; i++) if (parts[i] !== "") joined = joined === "" ? parts[i]! : `${joined}/${parts[i]}`;
  return joined === "" ? "." : normalizePosix(joined);
}

/** path.posix.resolve: the last absolute part and what follows it, on the working directory when none is absolute. */
export function resolvePosix(...parts: string[]): string {
  let path = "";
  for (let i = parts.length - 1; i >= 0 && !path.startsWith("/"); i--) {
    if (parts[i] === "") continue;
    path = path ? `${parts[i]}/${path}` : parts[i]!;
  }
  if (!path.startsWith("/")) path = path ? `${process.cwd()}/${path}` : process.cwd();
  return normalizePosix(path);
}
