import { OrchestraError } from '../core/errors.js';

/**
 * A `fetch` for the model SDKs that bounds a whole reply, not only the wait for its headers.
 *
 * The SDKs' own timeouts stop once the headers are in: a server that then trickles the body, or an
 * SSE stream that sends keep-alives forever, held a turn (and its lease) without end. Here every
 * attempt has one deadline from the request to the last body byte (`deadlineMs`: the role's
 * `timeoutMs`, else 10 minutes, the SDKs' default) and a longest gap between two body chunks
 * (`idleMs`: at most MAX_REPLY_IDLE_MS). The body is also read through a byte cap (`maxBytes`), so a
 * huge reply is refused while it arrives, never held whole.
 *
 * Invariants: a reply that breaks a limit errors with PROVIDER_ERROR (retryable for time, not for
 * size) and its connection is aborted; timers are cleared when the body ends, errors or is
 * cancelled; the caller's signal still aborts the request at any point.
 */

/** The SDKs' default per-attempt timeout, used as the whole-reply deadline when a role sets none. */
export const DEFAULT_REPLY_DEADLINE_MS = 600_000;
/** The longest silence between two chunks of a reply body. */
export const MAX_REPLY_IDLE_MS = 60_000;
/** A reply larger than this is refused while it streams in (records are capped at 1 MiB). */
export const MAX_REPLY_BYTES = 1024 * 1024;

export interface ReplyLimits { deadlineMs: number; idleMs: number; maxBytes: number }

/** The limits for a role's `timeoutMs` (undefined: the SDKs' default). */
export function replyLimits(timeoutMs?: number): ReplyLimits {
  const deadlineMs = timeoutMs ?? DEFAULT_REPLY_DEADLINE_MS;
  return { deadlineMs, idleMs: Math.min(deadlineMs, MAX_REPLY_IDLE_MS), maxBytes: MAX_REPLY_BYTES };
}

type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export function guardedFetch(provider: string, limits: ReplyLimits, inner: FetchLike = fetch): FetchLike {
  const slow = (why: string) => new OrchestraError('PROVIDER_ERROR', `${provider} request timed out: ${why}.`, { provider, retryable: true, timedOut: true });
  const big = (why: string) => new OrchestraError('PROVIDER_ERROR', `The ${provider} server sent a reply that was refused: ${why}.`, { provider, retryable: false });
  return async (input, init) => {
    const deadline = new AbortController();
    const at = Date.now() + limits.deadlineMs;
    const timer = setTimeout(() => deadline.abort(slow(`the reply did not finish within ${limits.deadlineMs} ms`)), limits.deadlineMs);
    timer.unref(); // a body nobody reads must not keep the process alive until the deadline
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
    let res: Response;
    try {
      res = await inner(input, { ...init, signal });
    } catch (err) {
      clearTimeout(timer);
      throw deadline.signal.aborted ? deadline.signal.reason : err;
    }
    const declared = Number(res.headers.get('content-length') ?? '0');
    if (declared > limits.maxBytes || !res.body) {
      clearTimeout(timer);
      if (!res.body) return res;
      await res.body.cancel().catch(() => undefined);
      throw big(`the reply is ${declared} bytes, over the ${limits.maxBytes}-byte limit`);
    }
    const reader = res.body.getReader();
    let seen = 0;
    const stop = (controller: ReadableStreamDefaultController<Uint8Array>, err: unknown) => {
      clearTimeout(timer);
      reader.cancel().catch(() => undefined);
      if (!deadline.signal.aborted) deadline.abort(err);
      controller.error(err);
    };
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const left = at - Date.now();
        const wait = Math.min(limits.idleMs, left);
        let idle: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((done) => { idle = setTimeout(() => done('timeout'), Math.max(0, wait)); });
        try {
          const next = await Promise.race([reader.read(), timedOut]);
          if (next === 'timeout') {
            stop(controller, slow(left <= limits.idleMs ? `the reply did not finish within ${limits.deadlineMs} ms` : `no data for ${limits.idleMs} ms in the middle of the reply`));
            return;
          }
          if (next.done) {
            clearTimeout(timer);
            controller.close();
            return;
          }
          seen += next.value.byteLength;
          if (seen > limits.maxBytes) stop(controller, big(`the reply is over the ${limits.maxBytes}-byte limit`));
          else controller.enqueue(next.value);
        } catch (err) {
          stop(controller, deadline.signal.aborted ? deadline.signal.reason : err);
        } finally {
          clearTimeout(idle);
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
