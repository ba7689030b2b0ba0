/**
 * Which environment variables are secrets, scrubbing them from a child's environment, and masking
 * their values in output. Core, because every layer that starts a process needs it (the sandbox,
 * the git runner) and the secret scanner builds on it.
 *
 * A variable is dropped when its name looks like a secret (see SECRET_NAME_PATTERNS) or is on the
 * deny list. The values of dropped variables (and any extra `redact` strings) are later masked in
 * the command's output, in case the command found them some other way (a file, a config, ...).
 */

/** Name patterns (case-insensitive) that mark a variable as secret. */
export const SECRET_NAME_PATTERNS: readonly RegExp[] = [
  /_KEY$/i,
  /_TOKEN$/i,
  /_SECRET$/i,
  /PASSWORD/i,
  /_CREDENTIALS$/i,
  /^ANTHROPIC_/i,
  /^GEMINI_/i,
  /^GOOGLE_API_KEY$/i,
  /^TELEGRAM_BOT_TOKEN$/i,
];

/**
 * Extra names dropped by default: credentials that do not follow the naming patterns, and agent
 * sockets that would hand the command the operator's keys. Entries may use `*` as a wildcard.
 */
export const DEFAULT_ENV_DENY: readonly string[] = [
  'AWS_ACCESS_KEY_ID',
  'SSH_AUTH_SOCK',
  'GPG_AGENT_INFO',
  'npm_config__auth',
  'npm_config__authToken',
  'npm_config_//*',
];

/** Secrets shorter than this are not masked (too many false hits, too little to leak). */
export const MIN_REDACT_LENGTH = 6;
export const REDACTED = '[redacted]';

export interface ScrubOptions {
  /** Extra names or `*` globs to drop, on top of the patterns and DEFAULT_ENV_DENY. */
  deny?: readonly string[];
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 'i');
}

export function isSecretName(name: string, options: ScrubOptions = {}): boolean {
  if (SECRET_NAME_PATTERNS.some((re) => re.test(name))) return true;
  const deny = [...DEFAULT_ENV_DENY, ...(options.deny ?? [])];
  return deny.some((entry) => globToRegExp(entry).test(name));
}

/** A copy of `env` without secret-looking variables. PATH, HOME, LANG and the like are kept. */
export function scrubEnv(env: NodeJS.ProcessEnv, options: ScrubOptions = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || isSecretName(name, options)) continue;
    out[name] = value;
  }
  return out;
}

/** Values to mask in output: those of the dropped variables plus `extra`, each >= 6 chars. */
export function secretValues(
  env: NodeJS.ProcessEnv,
  extra: readonly string[] = [],
  options: ScrubOptions = {},
): string[] {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && isSecretName(name, options)) values.add(value);
  }
  for (const value of extra) values.add(value);
  return [...values]
    .filter((v) => v.length >= MIN_REDACT_LENGTH)
    .sort((a, b) => b.length - a.length); // longest first, so a secret containing another goes whole
}

/** Replaces every occurrence of each secret with `[redacted]`. */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

const MIN_PARTIAL = 4;

/**
 * Masks a secret cut in two by output truncation: a secret's prefix at the very end of `head`
 * and a secret's suffix at the very start of `tail` (only pieces of >= 4 chars).
 */
export function maskCutEdges(
  head: string,
  tail: string,
  secrets: readonly string[],
): { head: string; tail: string } {
  for (const secret of secrets) {
    for (let k = secret.length - 1; k >= MIN_PARTIAL; k--) {
      if (head.endsWith(secret.slice(0, k))) {
        head = head.slice(0, head.length - k) + REDACTED;
        break;
      }
    }
    for (let k = secret.length - 1; k >= MIN_PARTIAL; k--) {
      if (tail.startsWith(secret.slice(secret.length - k))) {
        tail = REDACTED + tail.slice(k);
        break;
      }
    }
  }
  return { head, tail };
}
