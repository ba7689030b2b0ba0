/**
 * A workspace with a known health picture for the monitoring tests: tasks in four states, a
 * finished step, a lease takeover, model calls of two providers, test runs, refusals of every
 * kind (audit and task), a secret read; hostile text in a title and a refusal.
 */
import { AUDIT_STREAM } from '../../src/core/paths.js';
import { claimTask } from '../../src/core/leases.js';
import { createTask, moveTask } from '../../src/core/ops/tasks.js';
import type { Workspace } from '../../src/core/workspace.js';
import { devEvent } from '../../src/pipeline/dev-events.js';
import { testActor, waitFor } from './core-workspace.js';

export const HOSTILE = '<script>alert(1)</script> & "q" <img src=x onerror=alert(2)>';

export interface Seeded { pending: string; working: string; completed: string; failed: string }

/** The picture's expected numbers (see `seed`). */
export const EXPECTED = {
  usage: [
    { provider: 'anthropic', model: 'claude-x', inputTokens: 100, outputTokens: 20, costUsd: 0.5 },
    { provider: 'gemini', model: 'gemini-y', inputTokens: 1000, outputTokens: 200, costUsd: 0.25 },
  ],
  refusals: { INVALID_INPUT: 1, RATE_LIMITED: 1, UNAUTHORIZED: 1, TOOL_REFUSED: 1 },
  testRuns: { passed: 1, failed: 1 },
  takeovers: 1,
  spendUsd: 0.75,
};

export async function seed(ws: Workspace): Promise<Seeded> {
  const make = async (title: string) => (await createTask(ws, { title, workstream: 'default' }, { actor: testActor })).id;
  const pending = await make(HOSTILE);
  const working = await make('working on it');
  const completed = await make('done already');
  const failed = await make('broke');
  for (const [id, path] of [[working, ['in_progress']], [completed, ['in_progress', 'completed']], [failed, ['in_progress', 'failed']]] as const) {
    for (const to of path) await moveTask(ws, id, to, { actor: testActor });
  }
  // One finished step (claim, release) and one takeover (a lease left to expire, claimed again).
  const step = await claimTask(ws, working, { purpose: 'worker', owner: 'w1', ttlMs: 60_000, actor: testActor });
  await step!.release();
  await claimTask(ws, pending, { purpose: 'worker', owner: 'gone', ttlMs: 1, actor: testActor });
  const taken = await waitFor('the expired lease taken over', () => claimTask(ws, pending, { purpose: 'worker', owner: 'w2', ttlMs: 60_000, actor: testActor }));
  await taken.release();
  const append = (id: string, events: ReturnType<typeof devEvent>[]) => ws.appendToTask(id, () => ({ actor: testActor, events }));
  await append(working, EXPECTED.usage.map((u) => devEvent('model.called', { role: 'executor', ...u })));
  await append(working, [
    devEvent('tests.ran', { run: 1, passed: false, exitCode: 1, durationMs: 10, file: 'x' }),
    devEvent('tests.ran', { run: 2, passed: true, exitCode: 0, durationMs: 10, file: 'y' }),
    devEvent('tool.refused', { role: 'executor', name: 'write_file', reason: 'path leaves the worktree' }),
  ]);
  await ws.appendTo(AUDIT_STREAM, (s) => s, () => ({
    actor: testActor,
    events: [
      { type: 'inbox.rejected', data: { file: 'bad.md', code: 'INVALID_INPUT', message: 'no title' } },
      { type: 'inbox.rejected', data: { file: 'flood.md', code: 'RATE_LIMITED', message: 'too many files' } },
      { type: 'access.refused', data: { what: `web request ${HOSTILE}`, reason: 'no token' } },
      { type: 'context.secret-read', data: { key: 'DEPLOY_KEY', by: 'executor' } },
    ],
  }));
  return { pending, working, completed, failed };
}
