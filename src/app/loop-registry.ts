import { OrchestraError } from '../core/errors.js';
import type { Loop, LoopEnv } from '../loops/loop.js';

export const LOOP_NAMES = ['intake', 'triggers', 'retry', 'planner', 'executor', 'publisher', 'telegram', 'web', 'forge'] as const;
export type LoopName = (typeof LOOP_NAMES)[number];

/** Loops are imported on demand so a process only loads what it runs (SDKs, bot framework). */
export async function createLoop(name: LoopName, env: LoopEnv): Promise<Loop> {
  switch (name) {
    case 'intake': {
      const { runCommand } = await import('../pipeline/run-command.js');
      const { checkNewTask } = await import('../pipeline/new-task-check.js');
      return new (await import('../loops/intake.js')).IntakeLoop(env, runCommand, checkNewTask);
    }
    case 'triggers': {
      const { runAgent } = await import('../pipeline/agents.js');
      return (await import('../loops/triggers.js')).createTriggerLoop(env, (agent, task, lease, signal) => runAgent(env.ws, agent, task.id, env.actor, { lease, signal }));
    }
    case 'retry': return (await import('../loops/retry.js')).createRetryLoop(env);
    case 'web': return (await import('../adapters/web/index.js')).createWebLoop(env);
    case 'planner': return (await import('../pipeline/steps/planner.js')).createPlannerLoop(env);
    case 'executor': return (await import('../pipeline/steps/executor.js')).createExecutorLoop(env);
    case 'publisher': return (await import('../pipeline/steps/publisher.js')).createPublisherLoop(env);
    case 'forge': return (await import('../adapters/forge/index.js')).createForgeLoop(env);
    case 'telegram': return (await import('../adapters/telegram/index.js')).createTelegramLoop(env);
    default: throw new OrchestraError('UNSUPPORTED', `loop ${name} is not available in this build`);
  }
}
