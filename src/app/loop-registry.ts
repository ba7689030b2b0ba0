import type { Loop, LoopEnv } from '../loops/loop.js';

export const LOOP_NAMES = ['intake', 'triggers', 'retry', 'planner', 'executor', 'publisher', 'telegram', 'web'] as const;
export type LoopName = (typeof LOOP_NAMES)[number];

/** Loops are imported on demand so a process only loads what it runs (SDKs, bot framework). */
export async function createLoop(name: LoopName, env: LoopEnv): Promise<Loop> {
  switch (name) {
    case 'intake': return new (await import('../loops/intake.js')).IntakeLoop(env);
    case 'triggers': return (await import('../loops/triggers.js')).createTriggerLoop(env);
    case 'retry': return (await import('../loops/retry.js')).createRetryLoop(env);
    default: throw new Error(`loop ${name} is not available yet`);
  }
}
