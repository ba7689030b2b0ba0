/**
 * Exponential backoff for repeated failures: after the n-th failure in a row the next try waits
 * `baseMs * 2^(n-1)`, capped at `maxMs`. `failed()` returns the wait and whether this failure
 * starts a new backoff step worth logging (the first failure and every doubling until the cap,
 * then once per `maxMs` wait), so a persistent failure logs a few lines, not one per try.
 */
export class Backoff {
  private failures = 0;
  private until = 0;

  constructor(private readonly baseMs: number, private readonly maxMs: number) {}

  get failing(): boolean {
    return this.failures > 0;
  }

  /** True while the last failure's wait has not passed. */
  waiting(now = Date.now()): boolean {
    return now < this.until;
  }

  remainingMs(now = Date.now()): number {
    return Math.max(0, this.until - now);
  }

  failed(now = Date.now()): { waitMs: number; failures: number } {
    this.failures++;
    const waitMs = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.failures - 1, 30));
    this.until = now + waitMs;
    return { waitMs, failures: this.failures };
  }

  /** Returns how many failures in a row ended here (0 if none). */
  succeeded(): number {
    const n = this.failures;
    this.failures = 0;
    this.until = 0;
    return n;
  }
}
