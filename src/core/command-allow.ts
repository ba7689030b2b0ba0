/**
 * The command allow-list's pattern language: which command lines a profile lets an untrusted
 * actor choose (a task's `test` or `setup` field, a trigger's `run_command`).
 *
 * A command line is first split into words, and refused outright if it holds anything a shell
 * would treat as more than plain words: `; & | < > $ \` ( ) { } [ ] * ? ~ ! # % \ `, a newline,
 * any control character, a variable assignment before the program (`X=1 cmd`), an unclosed quote.
 * Words may be quoted with '…' or "…" (the quotes group, nothing inside is special because every
 * special character is refused anyway). What remains is an argv the shell runs as written.
 *
 * A pattern is a line of literal words, optionally ending in the word `...`: without it the argv
 * must equal the pattern's words exactly; with it the argv must start with them (any further
 * plain arguments). No regular expression or glob from anyone is ever evaluated.
 *   `npm test`        allows `npm test` only
 *   `npm test ...`    allows `npm test`, `npm test -- --grep x`; never `npm test; curl x | sh`
 *
 * Invariants: pure; bounded (lines over MAX_COMMAND_CHARS are refused before being scanned; at
 * most MAX_WORDS words); a refusal says which rule refused, in a sentence a person can act on.
 */
export const MAX_COMMAND_CHARS = 2000;
const MAX_WORDS = 200;
/** The word that, last in a pattern, means "and any further plain arguments". */
export const ANY_ARGS = '...';

/** Characters a shell gives a meaning to, beyond separating words: refused anywhere in a line. */
const SHELL_SPECIAL = /[;&|<>$`(){}[\]*?~!#%\\\n\r\t\v\f\x00-\x08\x0e-\x1f\x7f]/;

export type Words = { ok: true; words: string[] } | { ok: false; reason: string };

/** The argv of a plain command line, or why it is not one. */
export function splitCommand(line: string): Words {
  if (line.length > MAX_COMMAND_CHARS) return { ok: false, reason: `the command is longer than ${MAX_COMMAND_CHARS} characters` };
  const special = SHELL_SPECIAL.exec(line);
  if (special) return { ok: false, reason: `the command holds the shell character ${JSON.stringify(special[0])}; only plain words are allowed` };
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === ' ') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
    if (words.length > MAX_WORDS) return { ok: false, reason: `the command has more than ${MAX_WORDS} words` };
  }
  if (quote) return { ok: false, reason: 'the command has an unclosed quote' };
  if (word !== undefined) words.push(word);
  if (words.length === 0) return { ok: false, reason: 'the command is empty' };
  if (words[0]!.includes('=')) return { ok: false, reason: 'the command starts with a variable assignment' };
  return { ok: true, words };
}

/** A pattern's fixed words and whether it accepts further arguments; undefined when malformed. */
export function parsePattern(pattern: string): { words: string[]; anyArgs: boolean } | undefined {
  const parts = pattern.trim().split(/ +/).filter(Boolean);
  const anyArgs = parts.at(-1) === ANY_ARGS;
  const words = anyArgs ? parts.slice(0, -1) : parts;
  if (words.length === 0 || words.includes(ANY_ARGS)) return undefined;
  const plain = splitCommand(words.join(' '));
  if (!plain.ok || plain.words.length !== words.length) return undefined;
  return { words, anyArgs };
}

/** Whether a pattern is well formed (config and front matter are checked with this). */
export const isCommandPattern = (pattern: string): boolean => parsePattern(pattern) !== undefined;

export function matchesPattern(words: readonly string[], pattern: string): boolean {
  const p = parsePattern(pattern);
  if (!p) return false;
  if (p.anyArgs ? words.length < p.words.length : words.length !== p.words.length) return false;
  return p.words.every((w, i) => words[i] === w);
}

/** How many allowed patterns a refusal lists (the message stays short enough for a chat). */
const SHOWN_PATTERNS = 8;

export type CommandVerdict = { allowed: true; pattern: string } | { allowed: false; reason: string };

/** Whether `line` is allowed by one of `patterns`; the reason names the rule that refused. */
export function checkCommand(line: string, patterns: readonly string[]): CommandVerdict {
  const split = splitCommand(line.trim());
  if (!split.ok) return { allowed: false, reason: split.reason };
  const pattern = patterns.find((p) => matchesPattern(split.words, p));
  if (pattern) return { allowed: true, pattern };
  const shown = patterns.slice(0, SHOWN_PATTERNS).map((p) => `"${p}"`).join(', ') + (patterns.length > SHOWN_PATTERNS ? `, and ${patterns.length - SHOWN_PATTERNS} more` : '');
  return { allowed: false, reason: patterns.length ? `it matches none of the allowed commands (${shown})` : 'no command is allowed' };
}

/**
 * Whether every line `child` allows is allowed by `parent` (narrowing a profile may only shrink
 * its command list): the same fixed words, or, when the parent ends in `...`, a child that
 * starts with the parent's words.
 */
export function patternCovers(parent: string, child: string): boolean {
  const p = parsePattern(parent);
  const c = parsePattern(child);
  if (!p || !c) return false;
  if (!p.anyArgs) return !c.anyArgs && c.words.length === p.words.length && p.words.every((w, i) => c.words[i] === w);
  return c.words.length >= p.words.length && p.words.every((w, i) => c.words[i] === w);
}
