// Moved to src/fs/untrusted-files.ts (adapters use it, and adapters never import core/); this path stays for older imports.
export * from "../fs/untrusted-files.ts";
