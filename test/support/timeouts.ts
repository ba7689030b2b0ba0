/**
 * Waits in tests scale with ORCHESTRA_TEST_TIMEOUT_SCALE (default 1): on a loaded machine set it
 * to 2 or 3 and every helper's wait (waitFor, waitState, runCli's kill timer, the runner's
 * --test-timeout) grows with it, instead of tests failing on fixed waits.
 */
export function timeoutScale(env: NodeJS.ProcessEnv = process.env): number {
  const scale = Number(env.ORCHESTRA_TEST_TIMEOUT_SCALE ?? 1);
  return Number.isFinite(scale) && scale > 0 ? scale : 1;
}

/** `ms` times the scale. */
export const scaled = (ms: number): number => Math.round(ms * timeoutScale());
