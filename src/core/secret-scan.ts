/**
 * Finds known secret values, and their common encodings, in text that is about to leave the
 * machine or be kept as a record (a diff before commit, push or `exec*-final.diff`; test output).
 *
 * Secrets are the values of secret-named environment variables (isSecretName in env-secrets.ts)
 * plus configured extra values, each at least MIN_REDACT_LENGTH long. For each one the scanner
 * looks for: the exact value, the value reversed, standard base64 and base64url at all three byte
 * alignments (so an embedded secret is found whatever bytes precede it), hex (lower and upper
 * case), and URL encoding (encodeURIComponent and every byte as %XX). Text is also searched with
 * all whitespace removed, so a line-wrapped encoding (`base64` wraps at 76) is found too.
 *
 * A hit names the variable, the encoding and the file, never the value.
 */
import { isSecretName, MIN_REDACT_LENGTH, REDACTED, urlCredentials, type ScrubOptions } from './env-secrets.js';

export interface NamedSecret {
  /** The variable name (or `configured secret #n`). */
  name: string;
  value: string;
}

export type SecretEncoding = 'exact' | 'reversed' | 'base64' | 'base64url' | 'hex' | 'url-encoded';

export interface SecretHit {
  name: string;
  encoding: SecretEncoding;
  /** Where it was found (a file path of the diff, or the label given to scanText). */
  where: string;
}

interface Needle {
  name: string;
  encoding: SecretEncoding;
  text: string;
}

/** The secrets known to this process: secret-named variables of `env`, plus `extra` values. */
export function knownSecrets(env: NodeJS.ProcessEnv = process.env, extra: readonly string[] = [], options: ScrubOptions = {}): NamedSecret[] {
  const out: NamedSecret[] = [];
  const seen = new Set<string>();
  const add = (name: string, value: string) => {
    if (value.length < MIN_REDACT_LENGTH || seen.has(value)) return;
    seen.add(value);
    out.push({ name, value });
  };
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (value === undefined) continue;
    if (isSecretName(name, options)) add(name, value);
    for (const credential of urlCredentials(value)) add(`the password in ${name}`, credential);
  }
  extra.forEach((value, i) => add(`configured secret #${i + 1}`, value));
  return out;
}

/**
 * The part of base64(prefix + secret) that depends only on the secret, for a prefix of `k` bytes
 * (k = 0, 1, 2): characters mixing prefix bits or the bits of whatever follows are dropped.
 */
function base64Core(bytes: Buffer, k: number): string {
  const enc = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64').replace(/=+$/, '');
  const start = Math.ceil((8 * k) / 6);
  const end = Math.floor((8 * (k + bytes.length)) / 6);
  return enc.slice(start, end);
}

function needlesOf(secret: NamedSecret): Needle[] {
  const bytes = Buffer.from(secret.value, 'utf8');
  const out: Needle[] = [];
  const add = (encoding: SecretEncoding, text: string) => {
    if (text.length >= MIN_REDACT_LENGTH && !out.some((n) => n.text === text)) out.push({ name: secret.name, encoding, text });
  };
  add('exact', secret.value);
  add('reversed', [...secret.value].reverse().join(''));
  for (const k of [0, 1, 2]) {
    const core = base64Core(bytes, k);
    add('base64', core);
    add('base64url', core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  const hex = bytes.toString('hex');
  add('hex', hex);
  add('hex', hex.toUpperCase());
  add('url-encoded', encodeURIComponent(secret.value));
  add('url-encoded', hex.replace(/../g, '%$&'));
  add('url-encoded', hex.toUpperCase().replace(/../g, '%$&'));
  return out;
}

/** A scanner for a fixed set of secrets (build once, scan many texts). */
export class SecretScanner {
  private readonly needles: Needle[];

  constructor(secrets: readonly NamedSecret[]) {
    // Longest first: a hit is reported for the most specific encoding.
    this.needles = secrets.flatMap(needlesOf).sort((a, b) => b.text.length - a.text.length);
  }

  get empty(): boolean {
    return this.needles.length === 0;
  }

  /** Every (secret, encoding) found in `text`, labelled `where`; one hit per secret and encoding. */
  scanText(text: string, where: string): SecretHit[] {
    if (this.needles.length === 0 || !text) return [];
    const squeezed = text.replace(/\s+/g, '');
    const hits: SecretHit[] = [];
    for (const n of this.needles) {
      if (hits.some((h) => h.name === n.name && h.encoding === n.encoding)) continue;
      if (text.includes(n.text) || squeezed.includes(n.text)) hits.push({ name: n.name, encoding: n.encoding, where });
    }
    return hits;
  }

  /**
   * Scans a unified diff (`git diff -a`), file by file: the added lines and the file names.
   * Removed and context lines are not new content and are skipped.
   */
  scanDiff(patch: string): SecretHit[] {
    const hits: SecretHit[] = [];
    for (const file of splitDiff(patch)) hits.push(...this.scanText(file.added, this.mask(file.path)));
    return hits;
  }

  /** `text` with every encoding of every secret replaced by `[redacted]`. */
  redact(text: string): string {
    let out = text;
    for (const n of this.needles) if (out.includes(n.text)) out = out.split(n.text).join(REDACTED);
    return out;
  }

  private mask(path: string): string {
    return this.scanText(path, '').length > 0 ? '(a file whose name contains a secret)' : path;
  }
}

/** Per-file pieces of a unified diff: the path and the text it adds (header names included). */
export function splitDiff(patch: string): Array<{ path: string; added: string }> {
  const files: Array<{ path: string; added: string[] }> = [];
  let cur: { path: string; added: string[] } | undefined;
  let inHunk = false;
  for (const line of patch.split('\n')) {
    if (line.startsWith('diff --git ')) {
      const m = /^diff --git "?a\/(.*?)"? "?b\/(.*?)"?$/.exec(line);
      cur = { path: m?.[2] ?? line.slice('diff --git '.length), added: [line] };
      files.push(cur);
      inHunk = false;
      continue;
    }
    if (!cur) {
      cur = { path: '(diff)', added: [] };
      files.push(cur);
    }
    if (line.startsWith('@@')) inHunk = true;
    else if (!inHunk) {
      const m = /^(?:\+\+\+ "?b\/|rename to |copy to )(.*?)"?$/.exec(line);
      if (m) cur.path = m[1]!;
      cur.added.push(line);
    } else if (line.startsWith('+')) cur.added.push(line.slice(1));
    else if (!line.startsWith('-') && !line.startsWith(' ') && !line.startsWith('\\')) cur.added.push(line); // binary patch data
  }
  return files.map((f) => ({ path: f.path, added: f.added.join('\n') }));
}

/** One sentence naming each hit: variable, encoding, file (never the value). */
export function describeHits(hits: readonly SecretHit[]): string {
  const shown = hits.slice(0, 5).map((h) => `${h.name} (${h.encoding}) in ${h.where}`);
  return `${shown.join('; ')}${hits.length > shown.length ? `; and ${hits.length - shown.length} more` : ''}`;
}
