/**
 * Cooperative time slicing for long synchronous stretches on the event loop (a scan of thousands
 * of tasks, a directory walk): the work calls `pause()` between items, and once a slice's budget
 * is spent the pause yields to the event loop (setImmediate), so I/O callbacks such as intake's
 * run in between. Under budget a pause costs one resolved-promise await.
 *
 * Why: an `await` of work that completes synchronously is only a microtask, so a loop of them
 * never lets the event loop turn; 5,000 such reads held an inbox file back by 300 ms.
 */
export const SLICE_MS = 4;

export type Pause = () => Promise<void>;

/** A pause function with its own slice clock. */
export function timeSlicer(sliceMs = SLICE_MS): Pause {
  let since = performance.now();
  return async () => {
    if (performance.now() - since < sliceMs) return;
    await yieldToLoop();
    since = performance.now();
  };
}

/** Lets every pending I/O callback run once before continuing. */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
