// Moved to src/kernel/errors.ts (every layer may import the kernel); this path stays for older imports.
export * from "../kernel/errors.ts";
