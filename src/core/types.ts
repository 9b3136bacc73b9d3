// Moved to src/kernel/ (types.ts, progress.ts: every layer may import the kernel); this path stays for older imports.
export * from "../kernel/types.ts";
export * from "../kernel/progress.ts";
