/**
 * A lower bound of the size of JSON.stringify(value), computed by walking the value and stopping
 * as soon as it passes `limit`. Values parsed from YAML can share sub-objects (aliases), so a
 * few hundred bytes of input can stand for gigabytes of JSON; this walk visits at most about
 * `limit` bytes' worth of leaves, so a store can refuse such a value before serializing it.
 * Pure; never throws (a cycle or absurd depth counts as over the limit).
 */
const MAX_DEPTH = 256;

export function jsonExceeds(value: unknown, limit: number): boolean {
  let total = 0;
  const walk = (v: unknown, depth: number): boolean => {
    if (depth > MAX_DEPTH) return true;
    if (typeof v === 'string') total += v.length + 2;
    else if (typeof v === 'number' || typeof v === 'boolean') total += String(v).length;
    else if (v === null) total += 4;
    else if (Array.isArray(v)) {
      total += 2;
      for (const item of v) {
        if (walk(item, depth + 1)) return true;
        total += 1;
      }
    } else if (typeof v === 'object') {
      total += 2;
      for (const [key, item] of Object.entries(v as Record<string, unknown>)) {
        total += key.length + 4;
        if (walk(item, depth + 1)) return true;
      }
    }
    return total > limit;
  };
  return walk(value, 0);
}
