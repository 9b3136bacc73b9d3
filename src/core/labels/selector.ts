// Kubernetes-style label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`,
// joined by commas (AND). Pure: the list filters of REST and gRPC parse with this and match with it.
import { errors } from "../../kernel/errors.ts";
import { labelKeyProblem, labelValueProblem } from "./syntax.ts";

export type Requirement =
  | { key: string; op: "exists" | "absent" }
  | { key: string; op: "eq" | "neq"; value: string }
  | { key: string; op: "in" | "notin"; values: string[] };

/** What a selector's text asks: every requirement must hold. */
export type Selector = Requirement[];

type Token = { kind: "word"; text: string; at: number } | { kind: "op"; text: "=" | "==" | "!=" | "!" | "(" | ")" | ","; at: number } | { kind: "end"; at: number };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two === "==" || two === "!=") {
      out.push({ kind: "op", text: two, at: i });
      i += 2;
    } else if (c === "=" || c === "!" || c === "(" || c === ")" || c === ",") {
      out.push({ kind: "op", text: c, at: i });
      i++;
    } else {
      const start = i;
      while (i < text.length && !/[\s=!(),]/.test(text[i]!)) i++;
      out.push({ kind: "word", text: text.slice(start, i), at: start });
    }
  }
  out.push({ kind: "end", at: text.length });
  return out;
}

/** Parses `text`; a selector that is not one is INVALID_ARGUMENT saying where and what was expected. */
export function parseSelector(text: string): Selector {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos]!;
  const next = () => tokens[pos++]!;
  const fail = (what: string, t: Token = peek()): never => {
    const found = t.kind === "end" ? "the end" : `'${t.text}'`;
    throw errors.invalidArgument(`Invalid label_selector '${text}': expected ${what} at position ${t.at + 1}, found ${found}`, "Write a selector such as 'team=web,tier!=db', 'env in (dev,test)', 'gpu' or '!gpu'", {
      field: "label_selector",
    });
  };
  const key = (): string => {
    const t = peek();
    if (t.kind !== "word") return fail("a label key");
    pos++;
    const p = labelKeyProblem(t.text);
    if (p) throw errors.invalidArgument(`Invalid label_selector '${text}': ${p}`, "Label keys follow Kubernetes' rules, e.g. team or example.com/tier", { field: "label_selector" });
    return t.text;
  };
  const value = (k: string): string => {
    const t = peek();
    // `k=` selects an empty value, as in Kubernetes.
    if (t.kind !== "word") return "";
    pos++;
    const p = labelValueProblem(k, t.text);
    if (p) throw errors.invalidArgument(`Invalid label_selector '${text}': ${p}`, "Label values are letters, digits, '-', '_' and '.'", { field: "label_selector" });
    return t.text;
  };
  const values = (k: string): string[] => {
    const open = next();
    if (!(open.kind === "op" && open.text === "(")) fail("'(' after in/notin", open);
    const out: string[] = [];
    for (;;) {
      out.push(value(k));
      const t = next();
      if (t.kind === "op" && t.text === ")") return out;
      if (!(t.kind === "op" && t.text === ",")) fail("',' or ')' in the value list", t);
    }
  };
  const requirement = (): Requirement => {
    const t = peek();
    if (t.kind === "op" && t.text === "!") {
      pos++;
      return { key: key(), op: "absent" };
    }
    const k = key();
    const op = peek();
    if (op.kind === "end" || (op.kind === "op" && op.text === ",")) return { key: k, op: "exists" };
    if (op.kind === "op" && (op.text === "=" || op.text === "==")) {
      pos++;
      return { key: k, op: "eq", value: value(k) };
    }
    if (op.kind === "op" && op.text === "!=") {
      pos++;
      return { key: k, op: "neq", value: value(k) };
    }
    if (op.kind === "word" && (op.text === "in" || op.text === "notin")) {
      pos++;
      return { key: k, op: op.text, values: values(k) };
    }
    return fail("'=', '==', '!=', 'in', 'notin', ',' or the end");
  };

  const selector: Selector = [];
  if (peek().kind === "end") return selector; // an empty selector selects everything
  for (;;) {
    selector.push(requirement());
    const t = next();
    if (t.kind === "end") return selector;
    if (!(t.kind === "op" && t.text === ",")) fail("',' between requirements", t);
  }
}

/** Whether `labels` meets every requirement (`!=` and `notin` hold for a workspace without the key, as in Kubernetes). */
export function matchesSelector(selector: Selector, labels: Record<string, string>): boolean {
  return selector.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    switch (r.op) {
      case "exists":
        return has;
      case "absent":
        return !has;
      case "eq":
        return has && v === r.value;
      case "neq":
        return !has || v !== r.value;
      case "in":
        return has && r.values.includes(v!);
      case "notin":
        return !has || !r.values.includes(v!);
    }
  });
}
