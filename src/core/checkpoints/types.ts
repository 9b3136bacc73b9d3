// Moved to src/store/checkpoint-types.ts (the store keeps these records, and adapters never import core/); this path stays for older imports.
export * from "../../store/checkpoint-types.ts";
