/**
 * Which environment variables are secrets, which ones a sandboxed command may see, and masking
 * secret values in output. Core, because every layer that starts a process needs it (the sandbox,
 * the git runner) and the secret scanner builds on it.
 *
 * Two lines of defence. A sandboxed command gets an allow-list of variables only (sandboxEnv):
 * whatever a secret is called, it does not reach the command. And the values of secret-looking
 * variables (names matching SECRET_NAME_PATTERNS or the deny list, and the password of any URL
 * with credentials, e.g. DATABASE_URL) are masked in output and refused in commits, in case the
 * command found them some other way (a file, a config, ...).
 */
import { globToRegExp } from './quote.js';
import { remembered } from './remember.js';

/** Name patterns (case-insensitive) that mark a variable as secret. */
export const SECRET_NAME_PATTERNS: readonly RegExp[] = [
  /KEY$/i,
  /_KEY_/i,
  /TOKEN/i,
  /SECRET/i,
  /PASSW(OR)?D/i,
  /_PWD$/i,
  /CREDENTIAL/i,
  /(^|_)PAT$/i,
  /AUTH/i,
  /PRIVATE/i,
  /_DSN$/i,
  /^ANTHROPIC_/i,
  /^GEMINI_/i,
  /^GOOGLE_API_KEY$/i,
];

/**
 * Variables a sandboxed command may see (names or `*` globs), besides those it is given
 * explicitly (HOME, TMPDIR, ORCHESTRA_*) and config `sandbox.passEnv`.
 */
export const SANDBOX_ENV_ALLOW: readonly string[] = [
  'PATH', 'LANG', 'LANGUAGE', 'LC_*', 'TERM', 'TZ', 'COLORTERM', 'NO_COLOR', 'FORCE_COLOR', 'CI',
  'USER', 'LOGNAME', 'SHELL', 'ORCHESTRA_TASK_ID', 'ORCHESTRA_WORKSTREAM',
];

/** The environment of a sandboxed command: allow-listed names only, never a secret-named one. */
export function sandboxEnv(env: NodeJS.ProcessEnv, passEnv: readonly string[] = []): NodeJS.ProcessEnv {
  const allowed = [...SANDBOX_ENV_ALLOW, ...passEnv].map(globToRegExp);
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || isSecretName(name) || !allowed.some((re) => re.test(name))) continue;
    out[name] = value;
  }
  return out;
}

/** The password (or token) of a URL with credentials, e.g. `postgres://app:pw@db/x` -> `pw`. */
export function urlCredentials(value: string): string[] {
  const found: string[] = [];
  for (const m of value.matchAll(/[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/@\s:]*)(?::([^/@\s]*))?@/g)) {
    const [, user, password] = m;
    if (password) found.push(decodeSafe(password));
    else if (user && user.length >= 20) found.push(decodeSafe(user)); // a token used as the user name
  }
  return found;
}

function decodeSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

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


export function isSecretName(name: string, options: ScrubOptions = {}): boolean {
  return isSecretByDefault(name) || (options.deny ?? []).some((entry) => globToRegExp(entry).test(name));
}

/**
 * The answer for the default lists, remembered per name: every log line masks the environment's
 * secrets, and 14 patterns and 30 globs per variable were a fifth of intake's CPU.
 */
const isSecretByDefault = remembered(4096, (name) => SECRET_NAME_PATTERNS.some((re) => re.test(name)) || DEFAULT_ENV_DENY.some((entry) => globToRegExp(entry).test(name)));

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
    if (value === undefined) continue;
    if (isSecretName(name, options)) values.add(value);
    for (const credential of urlCredentials(value)) values.add(credential);
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
