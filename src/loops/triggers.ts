import { execa } from 'execa';
import { describeError } from '../core/errors.js';
import { ProcessTree } from '../exec/process-tree.js';
import type { Lease } from '../core/leases.js';
import { triggerKey, type TaskView } from '../core/model/task.js';
import type { Trigger, WorkstreamView } from '../core/model/workstream.js';
import type { Loop, LoopEnv } from './loop.js';
import { TaskLoop } from './task-loop.js';

export type AgentRunner = (agent: string, task: TaskView, lease: Lease, signal: AbortSignal) => Promise<{ ok: boolean; output: string }>;

/** Quotes a value for a POSIX shell, so substituted ids can never become shell syntax. */
const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

export function substitute(command: string, task: TaskView): string {
  return command.replaceAll('{task_id}', shellQuote(task.id)).replaceAll('{workstream_id}', shellQuote(task.workstream));
}

/**
 * Fires workstream triggers when a task enters a state. Firing is claimed by recording
 * `trigger.firing` for (trigger, state entry) first, so a trigger fires at most once per entry
 * even with several loops running; the outcome is recorded as `trigger.fired`.
 */
export function createTriggerLoop(env: LoopEnv, runAgent?: AgentRunner): Loop {
  let workstreams = new Map<string, WorkstreamView>();
  const due = (task: TaskView): Trigger[] =>
    (workstreams.get(task.workstream)?.triggers ?? []).filter((t) => t.on === task.state && !task.firedTriggers.includes(triggerKey(t.id, task.stateSeq)));

  const loop = new TaskLoop(env, {
    name: 'triggers',
    purpose: 'trigger',
    // Re-read the workstreams on every scan, so a trigger added while `up` runs is picked up.
    beforeScan: async () => {
      workstreams = new Map((await env.ws.workstreams()).map((w) => [w.name, w]));
    },
    wants: (task) => due(task).length > 0,
    async work({ lease, task, signal }) {
      for (const trigger of due(task)) {
        const key = triggerKey(trigger.id, task.stateSeq);
        const { record } = await lease.append((view) => (view.firedTriggers.includes(key) || view.stateSeq !== task.stateSeq ? null : [{ type: 'trigger.firing', data: { triggerId: trigger.id, stateSeq: task.stateSeq, on: trigger.on } }]));
        if (!record) continue; // fired already, or the task left the state: not ours to run
        let outcome: { ok: boolean; output: string; exitCode?: number };
        try {
          if (trigger.action.kind === 'run_command') {
            // Detached, and stopped by killing its whole process group: killing only the shell
            // (dash does not exec the last command) left the command running and holding the
            // output pipes, so a stop or timeout waited for it to finish on its own.
            const stop = AbortSignal.any([signal, AbortSignal.timeout(10 * 60_000)]);
            const subprocess = execa(substitute(trigger.action.command, task), {
              shell: true, detached: true, cwd: env.ws.paths.root, reject: false, all: true, cancelSignal: stop,
              env: { ORCHESTRA_WORKSPACE: env.ws.paths.root, ORCHESTRA_TASK_ID: task.id, ORCHESTRA_WORKSTREAM: task.workstream },
            });
            const tree = subprocess.pid ? new ProcessTree(subprocess.pid) : undefined;
            const killTree = () => {
              tree?.kill('SIGTERM');
              setTimeout(() => { if (tree && tree.scan().length > 0) tree.kill('SIGKILL'); }, 2000).unref();
            };
            stop.addEventListener('abort', killTree, { once: true });
            const result = await subprocess.finally(() => stop.removeEventListener('abort', killTree));
            outcome = { ok: result.exitCode === 0, output: String(result.all ?? '').slice(-4000), exitCode: result.exitCode ?? -1 };
          } else if (runAgent) {
            outcome = await runAgent(trigger.action.agent, task, lease, signal);
          } else {
            outcome = { ok: false, output: 'no agent runner is configured in this process' };
          }
        } catch (err) {
          outcome = { ok: false, output: describeError(err).message };
        }
        await lease.append([{ type: 'trigger.fired', data: { triggerId: trigger.id, stateSeq: task.stateSeq, ...outcome } }]);
        env.log.info('trigger fired', { task: task.id, trigger: trigger.id, ok: outcome.ok });
      }
      await lease.release();
    },
  });

  return loop;
}
