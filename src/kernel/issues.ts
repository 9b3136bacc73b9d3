import type * as v from "valibot";

type Issue = v.BaseIssue<unknown>;

/**
 * The most specific issue: a union's summary ("Expected (A | B) but received Object") hides what
 * went wrong inside the branch that nearly matched, so descend to the sub-issue with the longest
 * path. Sub-issue paths are relative to the union, so the paths are joined on the way down.
 */
export function specificIssue(issue: Issue): Issue {
  let current = issue;
  while (current.type === "union" && current.issues && current.issues.length > 0) {
    const deepest = current.issues.reduce((best, i) => ((i.path?.length ?? 0) > (best.path?.length ?? 0) ? i : best));
    const path = [...(current.path ?? []), ...(deepest.path ?? [])];
    current = { ...deepest, ...(path.length > 0 ? { path: path as [v.IssuePathItem, ...v.IssuePathItem[]] } : {}) };
  }
  return current;
}
