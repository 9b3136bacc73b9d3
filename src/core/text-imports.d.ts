// Files the source imports as text (`import x from "./f.py" with { type: "text" }`): Bun and Deno give
// their contents as a string, and `bun build --compile` embeds them in the binary.
declare module "*.py" {
  const text: string;
  export default text;
}
