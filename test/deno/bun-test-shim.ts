// `bun:test` for `deno test` (scripts/test-deno-unit.sh maps the import here with test/deno/deno.json):
// the part of its API our tests use, onto Deno.test, with jest's `expect` (the npm package) plus
// Bun's own matchers. Names are flattened ("describe > test"); hooks run around the tests of the
// describe that declared them. Deno runs each test file in a worker of its own, so the state below
// is per file. Not imported by anything that Bun runs.
import { expect as jestExpect } from "expect";

declare const Deno: {
  test(t: { name: string; ignore: boolean; sanitizeOps: boolean; sanitizeResources: boolean; sanitizeExit: boolean; fn(): Promise<void> }): void;
  inspect(v: unknown, o: { depth: number; compact: boolean }): string;
};

type Fn = (...args: any[]) => unknown;
type Hook = () => unknown;

interface Scope {
  name: string;
  parent?: Scope;
  skip: boolean;
  beforeAll: Hook[];
  afterAll: Hook[];
  beforeEach: Hook[];
  afterEach: Hook[];
  /** Tests registered under this scope or its descendants, in order: afterAll runs after the last one. */
  tests: object[];
  ranBeforeAll: boolean;
}

const newScope = (name: string, parent?: Scope, skip = false): Scope => ({
  name,
  parent,
  skip: skip || !!parent?.skip,
  beforeAll: [],
  afterAll: [],
  beforeEach: [],
  afterEach: [],
  tests: [],
  ranBeforeAll: false,
});

const root = newScope("");
/** Tests that never run: a scope's afterAll follows its last test that does. */
const ignoredTokens = new WeakSet<object>();
let current = root;
let defaultTimeout = 5_000;

export function setDefaultTimeout(ms: number): void {
  defaultTimeout = ms;
}

/** The chain from the file's root scope down to `s`. */
function chain(s: Scope): Scope[] {
  const out: Scope[] = [];
  for (let x: Scope | undefined = s; x; x = x.parent) out.unshift(x);
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`test "${name}" timed out after ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function register(name: string, fn: Fn | undefined, timeoutMs: number | undefined, skip: boolean): void {
  const scope = current;
  const full = [...chain(scope).map((s) => s.name).filter(Boolean), name].join(" > ");
  const token = {};
  for (const s of chain(scope)) s.tests.push(token);
  const ignore = skip || scope.skip || !fn;
  // Bun's sanitizers do not exist: a test may leave a timer or socket to its afterAll.
  Deno.test({
    name: full,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    sanitizeExit: false,
    async fn() {
      const scopes = chain(scope);
      const run = async () => {
        for (const s of scopes) {
          if (s.ranBeforeAll) continue;
          s.ranBeforeAll = true;
          for (const h of s.beforeAll) await h();
        }
        for (const s of scopes) for (const h of s.beforeEach) await h();
        try {
          await fn!();
        } finally {
          for (const s of [...scopes].reverse()) for (const h of s.afterEach) await h();
        }
      };
      try {
        await withTimeout(run(), timeoutMs ?? defaultTimeout, full);
      } finally {
        // The last test of a scope (skipped ones are never run, so count only those that run) ends it.
        for (const s of [...scopes].reverse()) {
          const live = s.tests.filter((t) => !ignoredTokens.has(t));
          if (live[live.length - 1] === token) for (const h of s.afterAll) await h();
        }
      }
    },
  });
  if (ignore) ignoredTokens.add(token);
}

/** printf-style test names of `test.each`, as Bun and jest spell them. */
function formatName(template: string, args: unknown[], index: number): string {
  let i = 0;
  const show = (v: unknown) => (typeof v === "string" ? JSON.stringify(v) : Deno.inspect(v, { depth: 4, compact: true }));
  return template.replace(/%([psdifjoO#%])/g, (_, f: string) => {
    if (f === "%") return "%";
    if (f === "#") return String(index);
    const v = args[i++];
    if (f === "s") return String(v);
    if (f === "d" || f === "i") return String(Math.trunc(Number(v)));
    if (f === "f") return String(Number(v));
    if (f === "j") return JSON.stringify(v);
    return show(v);
  });
}

function each(skip: boolean) {
  return (table: readonly unknown[]) => (name: string, fn: Fn, timeoutMs?: number) => {
    table.forEach((row, index) => {
      const args = Array.isArray(row) ? row : [row];
      register(formatName(name, args, index), () => fn(...args), timeoutMs, skip);
    });
  };
}

type TestFn = {
  (name: string, fn?: Fn, timeoutMs?: number | { timeout?: number }): void;
  skip(name: string, fn?: Fn, timeoutMs?: number): void;
  todo(name: string, fn?: Fn): void;
  only(name: string, fn?: Fn, timeoutMs?: number): void;
  if(cond: boolean): (name: string, fn?: Fn, timeoutMs?: number) => void;
  skipIf(cond: boolean): (name: string, fn?: Fn, timeoutMs?: number) => void;
  each(table: readonly unknown[]): (name: string, fn: Fn, timeoutMs?: number) => void;
};

const timeoutOf = (t: number | { timeout?: number } | undefined) => (typeof t === "number" ? t : t?.timeout);

export const test: TestFn = Object.assign((name: string, fn?: Fn, t?: number | { timeout?: number }) => register(name, fn, timeoutOf(t), false), {
  skip: (name: string, fn?: Fn, t?: number) => register(name, fn, t, true),
  todo: (name: string, fn?: Fn) => register(name, fn, undefined, true),
  only: (name: string, fn?: Fn, t?: number) => register(name, fn, t, false),
  if: (cond: boolean) => (name: string, fn?: Fn, t?: number) => register(name, fn, t, !cond),
  skipIf: (cond: boolean) => (name: string, fn?: Fn, t?: number) => register(name, fn, t, cond),
  each: each(false),
});
export const it = test;

function declare(name: string, body: () => void, skip: boolean): void {
  const parent = current;
  current = newScope(name, parent, skip);
  try {
    body();
  } finally {
    current = parent;
  }
}

type DescribeFn = {
  (name: string, body: () => void): void;
  skip(name: string, body: () => void): void;
  only(name: string, body: () => void): void;
  if(cond: boolean): (name: string, body: () => void) => void;
  skipIf(cond: boolean): (name: string, body: () => void) => void;
  each(table: readonly unknown[]): (name: string, body: (...args: any[]) => void) => void;
};

export const describe: DescribeFn = Object.assign((name: string, body: () => void) => declare(name, body, false), {
  skip: (name: string, body: () => void) => declare(name, body, true),
  only: (name: string, body: () => void) => declare(name, body, false),
  if: (cond: boolean) => (name: string, body: () => void) => declare(name, body, !cond),
  skipIf: (cond: boolean) => (name: string, body: () => void) => declare(name, body, cond),
  each: (table: readonly unknown[]) => (name: string, body: (...args: any[]) => void) =>
    table.forEach((row, index) => {
      const args = Array.isArray(row) ? row : [row];
      declare(formatName(name, args, index), () => body(...args), false);
    }),
});

export const beforeAll = (h: Hook) => void current.beforeAll.push(h);
export const afterAll = (h: Hook) => void current.afterAll.push(h);
export const beforeEach = (h: Hook) => void current.beforeEach.push(h);
export const afterEach = (h: Hook) => void current.afterEach.push(h);

/** jest's function mock (our tests use `mock(fn)` the way Bun spells `jest.fn`). */
export function mock<F extends Fn>(impl?: F) {
  const calls: unknown[][] = [];
  const m = Object.assign((...args: unknown[]) => (calls.push(args), impl?.(...args)), { mock: { calls } });
  return m;
}

// Bun's matchers that jest does not have.
jestExpect.extend({
  toStartWith(received: unknown, prefix: string) {
    const pass = typeof received === "string" && received.startsWith(prefix);
    return { pass, message: () => `expected ${JSON.stringify(received)} ${pass ? "not " : ""}to start with ${JSON.stringify(prefix)}` };
  },
  toBeFunction(received: unknown) {
    const pass = typeof received === "function";
    return { pass, message: () => `expected ${String(received)} ${pass ? "not " : ""}to be a function` };
  },
  toEndWith(received: unknown, suffix: string) {
    const pass = typeof received === "string" && received.endsWith(suffix);
    return { pass, message: () => `expected ${JSON.stringify(received)} ${pass ? "not " : ""}to end with ${JSON.stringify(suffix)}` };
  },
});

/** Bun's expect takes a message as its second argument (shown when the assertion fails); jest's does not. */
function expectWithMessage(actual: unknown, message?: string) {
  const matchers = jestExpect(actual);
  if (message === undefined) return matchers;
  const wrap = (target: object): object =>
    new Proxy(target, {
      get(t, key) {
        const v = Reflect.get(t, key);
        if (typeof v === "function") {
          return (...args: unknown[]) => {
            try {
              const out = v.apply(t, args);
              return out instanceof Promise ? out.catch((e: Error) => Promise.reject(Object.assign(e, { message: `${message}\n${e.message}` }))) : out;
            } catch (e) {
              throw Object.assign(e as Error, { message: `${message}\n${(e as Error).message}` });
            }
          };
        }
        return v && typeof v === "object" ? wrap(v) : v;
      },
    });
  return wrap(matchers);
}

export const expect = Object.assign(expectWithMessage, jestExpect) as unknown as typeof jestExpect & ((actual: unknown, message?: string) => any);
