/**
 * A pure function of a string, remembered: `compute` runs once per key while at most `max`
 * answers are held; past that the memory is emptied and refilled (bounded, no eviction order to
 * keep). For answers asked many times per record or log line (a shard's sha1, a compiled glob,
 * whether a variable name is secret). `compute` must always give the same answer for a key.
 */
export function remembered<V>(max: number, compute: (key: string) => V): (key: string) => V {
  const answers = new Map<string, V>();
  return (key) => {
    if (answers.has(key)) return answers.get(key)!;
    const value = compute(key);
    if (answers.size >= max) answers.clear();
    answers.set(key, value);
    return value;
  };
}
