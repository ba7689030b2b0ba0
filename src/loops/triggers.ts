import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeError } from '../core/errors.js';
import type { Lease } from '../core/leases.js';
import type { Workspace } from '../core/workspace.js';
import { runSandboxed } from '../exec/sandbox.js';
import { profileSandboxOptions } from '../exec/profile-sandbox.js';
import { assertCommandAllowed, isTrustedActor, profileRef, resolveProfile } from '../core/security-profiles.js';
import { triggerKey, type TaskView } from '../core/model/task.js';
import type { Trigger, WorkstreamView } from '../core/model/workstream.js';
import type { Loop, LoopEnv } from './loop.js';
import { TaskLoop } from './task-loop.js';
import { shellQuote } from '../core/quote.js';

export type AgentRunner = (agent: string, task: TaskView, lease: Lease, signal: AbortSignal) => Promise<{ ok: boolean; output: string }>;

export function substitute(command: string, task: TaskView): string {
  return command.replaceAll('{task_id}', shellQuote(task.id)).replaceAll('{workstream_id}', shellQuote(task.workstream));
}

/** How much of a trigger's (masked) output the `trigger.fired` record keeps: the end. */
const TRIGGER_OUTPUT_CHARS = 4000;

/**
 * Runs a `run_command` trigger like a test command: in the sandbox (bwrap required unless the
 * config opts out), under the `triggers` profile (network off, its time and resource limits; a
 * command added by an actor config does not trust must be on its allow-list, else
 * COMMAND_NOT_ALLOWED), secrets dropped from the environment and masked in the output,
 * in a private empty directory (the workspace is not visible), the whole tree killed at the end.
 * A refused sandbox (SANDBOX_UNAVAILABLE) propagates: the caller records it as the outcome.
 */
async function runTriggerCommand(ws: Workspace, task: TaskView, trigger: Trigger & { addedBy?: string }, command: string, signal: AbortSignal): Promise<{ ok: boolean; output: string; exitCode: number }> {
  const profile = resolveProfile(ws.config, 'triggers');
  if (!isTrustedActor(ws.config, trigger.addedBy ?? '')) assertCommandAllowed(profile, `trigger ${trigger.id}'s command`, command);
  const dir = await mkdtemp(join(tmpdir(), 'orchestra-trigger-'));
  try {
    const result = await runSandboxed({
      ...profileSandboxOptions(ws.config.sandbox, profile),
      command: substitute(command, task),
      cwd: dir,
      signal,
      hidePaths: [ws.paths.root],
      env: { ...process.env, ORCHESTRA_TASK_ID: task.id, ORCHESTRA_WORKSTREAM: task.workstream },
    });
    const note = result.isolation.mode === 'unconfined' ? '[run unconfined: sandbox.isolation is "unconfined"]\n' : '';
    return { ok: result.passed, output: note + result.output.slice(-TRIGGER_OUTPUT_CHARS), exitCode: result.exitCode ?? -1 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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
            outcome = { ...(await runTriggerCommand(env.ws, task, trigger, trigger.action.command, signal)), ...profileRef(resolveProfile(env.ws.config, 'triggers')) };
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
