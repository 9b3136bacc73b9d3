// Labels and label selectors: the pure parts (core/labels/), as REST and gRPC use them.
import { describe, expect, test } from "bun:test";
import { matchesSelector, parseSelector } from "../../src/core/labels/selector.ts";
import { labelKeyProblem, labelsProblem, labelValueProblem, parseLabelArgs } from "../../src/core/labels/syntax.ts";
import { NexusError } from "../../src/kernel/errors.ts";

function failure(f: () => unknown): NexusError {
  try {
    f();
  } catch (err) {
    if (err instanceof NexusError) return err;
    throw err;
  }
  throw new Error("expected a NexusError");
}

describe("label keys and values (Kubernetes' rules)", () => {
  test("good keys and values pass", () => {
    for (const k of ["team", "a", "app.kubernetes.io/name", "example.com/tier", "A_b-c.d", "x1"]) expect(labelKeyProblem(k)).toBeUndefined();
    for (const v of ["", "web", "v1.2.3", "A_b-c"]) expect(labelValueProblem("k", v)).toBeUndefined();
  });

  test("bad keys say what is wrong", () => {
    expect(labelKeyProblem("")).toContain("must not be empty");
    expect(labelKeyProblem("-team")).toContain("starting and ending with a letter or digit");
    expect(labelKeyProblem("team name")).toContain("letters, digits");
    expect(labelKeyProblem("x".repeat(64))).toContain("at most 63");
    expect(labelKeyProblem("Example.com/x")).toContain("prefix");
    expect(labelKeyProblem("/x")).toContain("prefix");
    expect(labelKeyProblem("example.com/")).toContain("must not be empty");
    expect(labelKeyProblem("a/b/c")).toContain("letters, digits");
  });

  test("bad values say what is wrong", () => {
    expect(labelValueProblem("k", "has space")).toContain("label 'k': the value 'has space'");
    expect(labelValueProblem("k", "v".repeat(64))).toContain("at most 63");
    expect(labelValueProblem("k", "end-")).toContain("ending with a letter or digit");
  });

  test("a map of labels: the first problem, and a cap on how many", () => {
    expect(labelsProblem({ team: "web", tier: "" })).toBeUndefined();
    expect(labelsProblem({ team: "web", "bad key": "x" })).toContain("bad key");
    expect(labelsProblem(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])))).toContain("at most 64");
  });

  test("--label arguments", () => {
    expect(parseLabelArgs(["team=web", "tier=", "a.b/c=x"])).toEqual({ team: "web", tier: "", "a.b/c": "x" });
    expect(failure(() => parseLabelArgs(["team"])).message).toBe("'team' is not a label KEY=VALUE");
    expect(failure(() => parseLabelArgs(["=web"])).code).toBe("INVALID_ARGUMENT");
    expect(failure(() => parseLabelArgs(["team=a", "team=b"])).message).toBe("label 'team' is given twice");
    const bad = failure(() => parseLabelArgs(["team=no way"]));
    expect(bad).toMatchObject({ code: "INVALID_ARGUMENT", details: { field: "labels" } });
    expect(bad.message).toContain("Invalid label: label 'team': the value 'no way'");
  });
});

describe("parseSelector", () => {
  test("every operator", () => {
    expect(parseSelector("team=web")).toEqual([{ key: "team", op: "eq", value: "web" }]);
    expect(parseSelector("team==web")).toEqual([{ key: "team", op: "eq", value: "web" }]);
    expect(parseSelector("team!=web")).toEqual([{ key: "team", op: "neq", value: "web" }]);
    expect(parseSelector("gpu")).toEqual([{ key: "gpu", op: "exists" }]);
    expect(parseSelector("!gpu")).toEqual([{ key: "gpu", op: "absent" }]);
    expect(parseSelector("env in (dev,test)")).toEqual([{ key: "env", op: "in", values: ["dev", "test"] }]);
    expect(parseSelector("env notin (prod)")).toEqual([{ key: "env", op: "notin", values: ["prod"] }]);
    expect(parseSelector("tier=")).toEqual([{ key: "tier", op: "eq", value: "" }]);
  });

  test("commas join requirements; spaces are free; commas inside a set stay in the set", () => {
    expect(parseSelector(" team = web , env in ( dev , test ),!gpu, example.com/tier ")).toEqual([
      { key: "team", op: "eq", value: "web" },
      { key: "env", op: "in", values: ["dev", "test"] },
      { key: "gpu", op: "absent" },
      { key: "example.com/tier", op: "exists" },
    ]);
    expect(parseSelector("")).toEqual([]);
    expect(parseSelector("   ")).toEqual([]);
  });

  test("a bad selector is INVALID_ARGUMENT saying where and what was expected", () => {
    const cases: Array<[string, string]> = [
      ["team=web,", "expected a label key at position 10, found the end"],
      [",team", "expected a label key at position 1, found ','"],
      ["team web", "expected '=', '==', '!=', 'in', 'notin', ',' or the end at position 6, found 'web'"],
      ["env in dev", "expected '(' after in/notin at position 8, found 'dev'"],
      ["env in (dev", "expected ',' or ')' in the value list at position 12, found the end"],
      ["env in (dev test)", "expected ',' or ')' in the value list at position 13, found 'test'"],
      ["a=b c", "expected ',' between requirements at position 5, found 'c'"],
      ["!", "expected a label key at position 2, found the end"],
      ["=x", "expected a label key at position 1, found '='"],
      ["a=(b)", "expected ',' between requirements at position 3, found '('"],
    ];
    for (const [text, message] of cases) {
      const e = failure(() => parseSelector(text));
      expect(e.code).toBe("INVALID_ARGUMENT");
      expect(e.message).toBe(`Invalid label_selector '${text}': ${message}`);
      expect(e.details).toEqual({ field: "label_selector" });
      expect(e.suggestion).toContain("team=web");
    }
    expect(failure(() => parseSelector("bad_-=x")).message).toContain("label key 'bad_-'");
    expect(failure(() => parseSelector("k=bad-")).message).toContain("label 'k': the value 'bad-'");
  });
});

describe("matchesSelector", () => {
  const web = { team: "web", env: "dev" };
  const db = { team: "db", gpu: "" };
  const none = {};
  const pick = (sel: string) => [web, db, none].filter((l) => matchesSelector(parseSelector(sel), l));

  test("equality and inequality (!= holds without the key, as in Kubernetes)", () => {
    expect(pick("team=web")).toEqual([web]);
    expect(pick("team==db")).toEqual([db]);
    expect(pick("team!=web")).toEqual([db, none]);
  });

  test("existence", () => {
    expect(pick("gpu")).toEqual([db]);
    expect(pick("!gpu")).toEqual([web, none]);
    expect(pick("gpu=")).toEqual([db]);
  });

  test("sets (notin holds without the key)", () => {
    expect(pick("team in (web,db)")).toEqual([web, db]);
    expect(pick("team notin (web)")).toEqual([db, none]);
    expect(pick("env in (prod)")).toEqual([]);
  });

  test("commas are AND; an empty selector matches all", () => {
    expect(pick("team=web,env=dev")).toEqual([web]);
    expect(pick("team=web,env=prod")).toEqual([]);
    expect(pick("team,!gpu")).toEqual([web]);
    expect(pick("")).toEqual([web, db, none]);
  });
});
