import { OrchestraError } from './errors.js';

/**
 * Bounds on parsed input, checked before and after parsing so that no file can exhaust the
 * stack (deep nesting) or memory (expansion) of the process that reads it.
 */
export const MAX_NESTING = 32;

/**
 * Deepest bracket nesting of JSON text, counted without parsing (strings skipped), stopping
 * as soon as `limit` is passed. Precondition: none (any string).
 */
export function assertJsonDepth(text: string, limit = MAX_NESTING): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > limit) throw new OrchestraError('INVALID_INPUT', `the JSON is nested more than ${limit} levels deep`);
    } else if (c === 93 || c === 125) depth--;
  }
}

/**
 * A conservative upper bound of the nesting of YAML text, without parsing it: flow brackets
 * (`[`, `{`) are counted like JSON (quotes are ignored, so it can only over-count), and a block
 * collection at a line is at most as deep as the line's indentation plus the indicators
 * (`- `, `? `, `: `) on it. Refuses flow nesting over `limit` and block indentation plus
 * indicators over `4 * limit` (the real depth is then checked on the parsed value).
 */
export function assertYamlDepth(text: string, limit = MAX_NESTING): void {
  let flow = 0;
  let maxFlow = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 91 || c === 123) maxFlow = Math.max(maxFlow, ++flow);
    else if ((c === 93 || c === 125) && flow > 0) flow--;
  }
  let maxBlock = 0;
  for (const line of text.split('\n')) {
    const indent = line.length - line.trimStart().length;
    const indicators = (line.match(/(?:^|\s)[-?:](?=\s|$)/g) ?? []).length;
    maxBlock = Math.max(maxBlock, indent + indicators);
    if (maxBlock > limit * 4) break;
  }
  if (maxFlow > limit || maxBlock > limit * 4) {
    throw new OrchestraError('INVALID_INPUT', `the YAML is nested too deeply (limit ${limit} levels)`);
  }
}

/** Depth and serialized size of a parsed value, measured iteratively (no recursion). */
export function measure(value: unknown): { depth: number; bytes: number } {
  let depth = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v && typeof v === 'object') {
      depth = Math.max(depth, d);
      for (const child of Object.values(v)) stack.push([child, d + 1]);
    }
  }
  return { depth, bytes: Buffer.byteLength(JSON.stringify(value) ?? '') };
}
