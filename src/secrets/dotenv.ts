// dotenv files as most tools read them: `KEY=value`, `export KEY=value`, `#` comments, '…' taken as
// written, "…" with \n \t \" \\ escapes, and an unquoted value trimmed up to a ` #` comment.
// Variables are not expanded (${OTHER} stays as written): a secret is the text in the file.

export interface DotenvError {
  line: number;
  message: string;
}

export function parseDotenv(text: string): { values: Record<string, string>; errors: DotenvError[] } {
  const values: Record<string, string> = {};
  const errors: DotenvError[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(trimmed);
    if (!m) {
      errors.push({ line: i + 1, message: "expected KEY=value" });
      continue;
    }
    const key = m[1]!;
    let rest = m[2]!;
    if (rest.startsWith("'") || rest.startsWith('"')) {
      const quote = rest[0]!;
      // A quoted value may run over several lines until its closing quote.
      let body = rest.slice(1);
      let end = findClose(body, quote);
      const start = i;
      while (end < 0 && i + 1 < lines.length) {
        i++;
        body += "\n" + lines[i]!;
        end = findClose(body, quote);
      }
      if (end < 0) {
        errors.push({ line: start + 1, message: `${key}: the ${quote} quote is not closed` });
        continue;
      }
      const after = body.slice(end + 1).trim();
      if (after !== "" && !after.startsWith("#")) {
        errors.push({ line: i + 1, message: `${key}: text after the closing quote` });
        continue;
      }
      const inner = body.slice(0, end);
      values[key] = quote === '"' ? unescape(inner) : inner;
    } else {
      const hash = rest.search(/\s#/);
      if (hash >= 0) rest = rest.slice(0, hash);
      values[key] = rest.trim();
    }
  }
  return { values, errors };
}

function findClose(body: string, quote: string): number {
  for (let j = 0; j < body.length; j++) {
    if (quote === '"' && body[j] === "\\") {
      j++;
      continue;
    }
    if (body[j] === quote) return j;
  }
  return -1;
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => ({ n: "\n", r: "\r", t: "\t" })[c] ?? c);
}
