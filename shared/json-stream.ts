/**
 * Concatenated JSON objects (`{...}{...}` or one per line), as the Kafka REST v3 API streams
 * records and delivery reports.
 * @module
 */
import { err, ok, type Result } from "./result.ts";

/** Splits text into its top-level JSON objects; anything else between them is an error. */
export function splitJsonObjects(text: string): Result<unknown[], string> {
  const values: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  let escaped = false;
  for (let index = 0; index < text.length; index++) {
    const character = text[index];
    if (inString) {
      if (escaped) escaped = false;
      else if (character === "\\") escaped = true;
      else if (character === '"') inString = false;
    } else if (character === '"') {
      inString = true;
    } else if (character === "{") {
      if (depth === 0) start = index;
      depth++;
    } else if (character === "}") {
      depth--;
      if (depth < 0) return err("Unexpected character ('}')");
      if (depth === 0) {
        try {
          values.push(JSON.parse(text.slice(start, index + 1)));
        } catch (error) {
          return err(`Unexpected character: ${(error as Error).message}`);
        }
      }
    } else if (depth === 0 && !/\s/.test(character ?? "")) {
      return err(`Unexpected character ('${character}')`);
    }
  }
  if (depth !== 0 || inString) return err("Unexpected end-of-input");
  return ok(values);
}
