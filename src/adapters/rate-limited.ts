import type { Actor } from '../core/actor.js';
import { isOrchestraError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Workspace } from '../core/workspace.js';
import { admit, rateLimitNotice, type Submission } from '../pipeline/rate-limit.js';
import { recordRefusal, RefusalLimiter } from './inbox-port.js';

/**
 * A chat door's early answer to an actor who already reached a rate limit: instead of dropping a
 * file intake will refuse, the door says when to try again at once. Only a check: intake's own
 * check is the one that counts and records admissions.
 *
 * Such refusals are audited as `access.refused` with `code: RATE_LIMITED`, `limit`, `retryAt` and
 * the actor (monitoring counts them next to intake's `inbox.rejected`), at most once per actor
 * key and minute and 60 a minute in all, so a flood at the door cannot flood the audit stream.
 */
export class DoorLimits {
  private readonly audited = new RefusalLimiter(60_000, 60);

  constructor(private readonly ws: Workspace, private readonly log: Logger, private readonly door: string) {}

  /** The sentence for the person when `actor` may not submit this now; undefined when it may. */
  async refusal(actor: Actor, submission: Submission): Promise<string | undefined> {
    try {
      await admit(this.ws, actor, submission, { dryRun: true });
      return undefined;
    } catch (err) {
      if (!isOrchestraError(err, 'RATE_LIMITED')) throw err;
      const { limit, retryAt, key } = err.details ?? {};
      if (this.audited.allow(String(key))) {
        const facts = { code: 'RATE_LIMITED', limit, ...(typeof retryAt === 'string' ? { retryAt } : {}) };
        await recordRefusal(this.ws, actor, `${this.door} submission over a rate limit`, facts).catch((e) => this.log.warn('recording a refusal failed', { message: String(e) }));
      }
      return rateLimitNotice(err.details ?? {});
    }
  }
}
