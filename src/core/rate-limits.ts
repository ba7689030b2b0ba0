import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Actor } from './actor.js';

/**
 * Rate limits per actor: the config section `rateLimits`, the key that names an actor for
 * limiting, and the stream that holds each actor's admissions (its ledger).
 *
 * Config shape (every field has a default; a limit of `null` means unlimited):
 *   { "default": {"perMinute": 5, "perDay": 100, "inFlight": 3, "usdPerDay": 20, "commandsPerMinute": 30},
 *     "doors":  {"telegram": {"perDay": 50}},          // per door (the part before ':')
 *     "actors": {"telegram:12345": {"inFlight": 10}},   // per individual actor key
 *     "exempt": ["cli", "loop", "system", "inbox"] }     // keys or doors never limited (default)
 * An actor's limits are `default`, overridden field by field by its door, then by its own key.
 * Exempt by default: the local CLI user, Orchestra's own loops, and unsealed inbox files, since
 * writing into the workspace's inbox takes a local account that can run the CLI anyway. Remove
 * `inbox` from `exempt` when something less trusted drops files there (a mail or sync gateway).
 *
 * Actor keys (stable, bounded, never a secret):
 *   telegram:<user id>   a Telegram user (sealed inbox files of the telegram adapter)
 *   web                  the web door: one token, so one holder (a session is minted at will by
 *                        whoever holds the token, so per-session keys would not limit anyone)
 *   <adapter>:<user>     any other adapter (e.g. a forge user), or `<adapter>` without a user
 *   inbox                every unsealed inbox file: their names are chosen by whoever writes
 *                        them, so they are one source, not one per name
 *   cli, loop:<name>, system:<name>, agent:<name>   local and internal actors
 * Invariant: a key is at most KEY_MAX characters of [A-Za-z0-9._:@-]; anything else (huge or odd
 * names) is replaced by a hash, so a hostile actor field cannot grow keys, stream names or records.
 */

const LimitValue = z.number().min(0).nullable();

export const RateLimitSchema = z.object({
  /** New tasks in the last 60 seconds. */
  perMinute: LimitValue.optional(),
  /** New tasks in the last 24 hours. */
  perDay: LimitValue.optional(),
  /** The actor's tasks not in a terminal state (not archived, not in a state without exits). */
  inFlight: LimitValue.optional(),
  /** Model spend recorded in the last 24 hours by tasks the actor created, in USD. */
  usdPerDay: LimitValue.optional(),
  /** Commands on tasks (comment, approve, retry, ...) in the last 60 seconds. */
  commandsPerMinute: LimitValue.optional(),
});
export type RateLimit = z.infer<typeof RateLimitSchema>;
export type ResolvedRateLimit = { [K in keyof RateLimit]-?: number | null };

export const RATE_LIMIT_DEFAULTS: ResolvedRateLimit = { perMinute: 5, perDay: 100, inFlight: 3, usdPerDay: 20, commandsPerMinute: 30 };

const KeySchema = z.string().min(1).max(200);

export const RateLimitsSchema = z.object({
  enabled: z.boolean().default(true),
  /** Written out in full by `orchestra init`; a field left out falls back to RATE_LIMIT_DEFAULTS. */
  default: RateLimitSchema.default({ ...RATE_LIMIT_DEFAULTS }),
  doors: z.record(KeySchema, RateLimitSchema).default({}),
  actors: z.record(KeySchema, RateLimitSchema).default({}),
  exempt: z.array(KeySchema).default(['cli', 'loop', 'system', 'inbox']),
});
export type RateLimitsConfig = z.infer<typeof RateLimitsSchema>;

export const KEY_MAX = 120;
const SAFE_PART = /^[A-Za-z0-9._@-]{1,80}$/;

const shortHash = (text: string, n = 16) => createHash('sha256').update(text).digest('hex').slice(0, n);
/**
 * A part of a key as written, or `h-<hash>` when it is odd or long (or itself starts with `h-`, so
 * a name chosen to look like another actor's hash cannot share that actor's ledger).
 */
const part = (text: string) => (SAFE_PART.test(text) && !text.startsWith('h-') ? text : `h-${shortHash(text)}`);

/** The key an actor is limited under (see the module comment). */
export function rateLimitKey(actor: Actor): string {
  switch (actor.kind) {
    case 'inbox': return 'inbox';
    case 'cli': return 'cli';
    case 'adapter':
      if (actor.name === 'web') return 'web';
      return actor.user ? `${part(actor.name)}:${part(actor.user)}` : part(actor.name);
    default: return `${actor.kind}:${part(actor.name)}`;
  }
}

/** The door of a key: the part before the first ':' (`telegram:12345` -> `telegram`). */
export const doorOf = (key: string) => key.split(':', 1)[0]!;

export function isExempt(config: RateLimitsConfig, key: string): boolean {
  return !config.enabled || config.exempt.includes(key) || config.exempt.includes(doorOf(key));
}

/** The limits of one key: defaults, then its door's, then its own (field by field). */
export function limitsOf(config: RateLimitsConfig, key: string): ResolvedRateLimit {
  const out: ResolvedRateLimit = { ...RATE_LIMIT_DEFAULTS };
  for (const layer of [config.default, config.doors[doorOf(key)], config.actors[key]]) {
    if (!layer) continue;
    for (const name of Object.keys(out) as Array<keyof ResolvedRateLimit>) if (layer[name] !== undefined) out[name] = layer[name];
  }
  return out;
}

/** Top directory of the ledgers (a record directory: committed and verified like the others). */
export const LIMITS_DIR = 'limits';

/** The ledger stream of a key: readable, and unique by a hash of the whole key. */
export function streamOfLimits(key: string): string {
  // No leading dot: stream listings skip hidden names.
  const readable = key.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '').slice(0, 60) || 'key';
  return `${LIMITS_DIR}/${readable}-${shortHash(key, 12)}`;
}
