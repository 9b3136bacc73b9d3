// Rewrites the README's configuration reference from src/config/keys.ts (test/unit/config-keys.test.ts
// fails while the two differ). Run after changing a key's entry: `bun scripts/config-reference.ts`.
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { withConfigReference } from "../src/config/keys.ts";

const readme = resolve(import.meta.dirname ?? ".", "../README.md");
const before = readFileSync(readme, "utf8");
const after = withConfigReference(before);
if (after !== before) writeFileSync(readme, after);
console.log(after !== before ? "README.md: configuration reference updated" : "README.md: configuration reference already up to date");
