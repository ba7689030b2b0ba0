/**
 * Masks credentials in text that is about to be recorded, logged or shown: a failure reason, an
 * error message, a log line. Core, because every layer that records a reason needs it.
 *
 * Two things go: the user-info part of any URL (`https://user:token@host/x` -> `https://host/x`:
 * a push remote with a token in it), and the value of every secret-looking variable of the
 * environment (env-secrets.ts `secretValues`, which also takes URL passwords held in variables).
 *
 * Invariants: linear in the length of the text (one regex with no nested repetition, then plain
 * substring replacement); never throws; text without credentials comes back unchanged.
 */
import { maskSecrets, secretValues } from './env-secrets.js';

/**
 * `scheme://` followed by user info up to the `@` before the host. The look-behind makes a scheme
 * start only at the start of a word, so a long run of letters is scanned once, not once per letter.
 */
const URL_USER_INFO = /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/@\s'"<>`]*@/g;

/** `text` without URL credentials. */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_USER_INFO, '$1');
}

/** `text` without URL credentials and without the value of any secret variable of `env`. */
export function redactCredentials(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return maskSecrets(redactUrlCredentials(text), secretValues(env));
}
