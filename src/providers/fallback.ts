import { maskSecrets, secretValues } from '../core/env-secrets.js';
import { OrchestraError } from '../core/errors.js';
import { oneLine } from './common.js';
import type { FallbackFailure, ModelProvider, ModelReply, ModelRequest } from './types.js';

/**
 * A role's fallback chain as one ModelProvider, so the turn loop stays one loop: each turn goes
 * to the first link; when it cannot serve the turn after its SDK's own retries (overloaded 529 or
 * 503, rate limited 429, another 5xx, a timeout or a failed connection), the next link takes the
 * same request. A reply served by a later link says so (`servedBy`, and `fallbacks`: who failed
 * and why), and the turn's record carries both.
 *
 * Invariants: a configuration error (400, 401, 403, 404, a missing key, a refused reply) never
 * falls back: it surfaces as it is, from whichever link raised it; an abort stops the chain; the
 * reasons recorded name providers, models and statuses, and any secret value of the environment
 * in a server's message is masked. Every turn starts again at the first link.
 */
export interface ChainLink {
  provider: ModelProvider;
  model: string;
}

export class FallbackProvider implements ModelProvider {
  readonly kind: ModelProvider['kind'];

  constructor(
    private readonly links: readonly ChainLink[],
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    if (links.length === 0) throw new OrchestraError('INTERNAL', 'a fallback chain needs at least one provider');
    this.kind = links[0]!.provider.kind;
  }

  async complete(req: ModelRequest): Promise<ModelReply> {
    const failures: FallbackFailure[] = [];
    for (const [i, link] of this.links.entries()) {
      const model = i === 0 ? req.model || link.model : link.model;
      try {
        const reply = await link.provider.complete({ ...req, model });
        return i === 0 ? reply : { ...reply, servedBy: { provider: link.provider.kind, model }, fallbacks: failures };
      } catch (err) {
        const last = i === this.links.length - 1;
        if (last || !fallsBack(err, req.signal)) throw failures.length ? this.chainError(err, failures) : err;
        failures.push(this.failure(link, model, err as OrchestraError));
      }
    }
    throw new OrchestraError('INTERNAL', 'unreachable: the fallback chain ended without an answer');
  }

  private failure(link: ChainLink, model: string, err: OrchestraError): FallbackFailure {
    const status = typeof err.details?.status === 'number' ? err.details.status : undefined;
    const reason = maskSecrets(oneLine(err.message), secretValues(this.env)).slice(0, 300);
    return { provider: link.provider.kind, model, reason, ...(status !== undefined ? { status } : {}) };
  }

  /** The last link's error, its message naming the links that failed before it. */
  private chainError(err: unknown, failures: FallbackFailure[]): unknown {
    if (!(err instanceof OrchestraError)) return err;
    const before = failures.map((f) => `${f.provider} ${f.model} (${f.status ?? 'no answer'})`).join(', ');
    return new OrchestraError(err.code, `${err.message} (after ${before} could not serve the turn)`, { ...err.details, fallbacks: failures });
  }
}

/** Overload, rate limit or outage: worth handing to the next provider. A config error is not. */
export function fallsBack(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return false;
  if (!(err instanceof OrchestraError) || err.code !== 'PROVIDER_ERROR' || err.details?.aborted) return false;
  const status = err.details?.status;
  if (typeof status === 'number') return status === 408 || status === 429 || status >= 500;
  return err.details?.retryable === true; // a timeout or a failed connection
}
