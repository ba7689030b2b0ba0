/**
 * Turning a forge's HTTP answer into Orchestra's terms, shared by both implementations: which
 * status is which error code, and what the rate-limit headers say about the next call. Pure.
 * Messages are built from the status and the forge's own short message only, with the token
 * cut out should a forge ever echo it, so no error can carry a credential.
 */
import { OrchestraError } from '../core/errors.js';

export type HeaderGet = (name: string) => string | undefined;

/** Milliseconds to wait before the next call, from retry-after or an exhausted quota; 0 if none. */
export function waitFromHeaders(get: HeaderGet, now = Date.now()): number {
  const retryAfter = Number(get('retry-after'));
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.min(retryAfter, 3600) * 1000;
  const remaining = get('x-ratelimit-remaining') ?? get('ratelimit-remaining');
  const reset = Number(get('x-ratelimit-reset') ?? get('ratelimit-reset'));
  if (remaining !== undefined && Number(remaining) <= 0 && Number.isFinite(reset) && reset > 0) {
    return Math.min(Math.max(0, reset * 1000 - now), 3600_000);
  }
  return 0;
}

export function redact(text: string, token: string | undefined): string {
  let out = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').slice(0, 300);
  if (token) out = out.split(token).join('***');
  return out;
}

/** The error for a failed call: `what` names the call for a person (e.g. "listing issues of o/r"). */
export function forgeHttpError(what: string, status: number | undefined, message: string, get: HeaderGet, token?: string): OrchestraError {
  const said = message ? `: ${redact(message, token)}` : '';
  const waitMs = status === undefined ? 0 : waitFromHeaders(get);
  if (status === 401) return new OrchestraError('FORGE_AUTH', `${what} failed: the forge refused the token (401)${said}`, { status });
  if (status === 429 || (status === 403 && waitMs > 0)) {
    return new OrchestraError('FORGE_UNAVAILABLE', `${what} failed: rate limited (${status}), retry in ${Math.ceil(waitMs / 1000)} s`, { status, retryAfterMs: waitMs || 60_000 });
  }
  if (status === 403) return new OrchestraError('FORGE_AUTH', `${what} failed: the token may not do this (403)${said}`, { status });
  if (status === 404) return new OrchestraError('NOT_FOUND', `${what} failed: not found (404)${said}`, { status });
  if (status === 422 || status === 400 || status === 409) return new OrchestraError('INVALID_INPUT', `${what} failed: the forge refused it (${status})${said}`, { status });
  return new OrchestraError('FORGE_UNAVAILABLE', `${what} failed: ${status ? `the forge answered ${status}` : 'the forge cannot be reached'}${said}`, { status: status ?? null });
}
