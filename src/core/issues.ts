// Moved to src/kernel/issues.ts (every layer may import the kernel); this path stays for older imports.
export * from "../kernel/issues.ts";
