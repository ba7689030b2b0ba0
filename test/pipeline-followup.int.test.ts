/**
 * Follow-up rounds with scripted models: feedback from an inbox command file on a completed task
 * (hostile ones refused or cleaned), a remote task branch rewritten by someone else (clear
 * BRANCH_DIVERGED failure, nothing overwritten), and a retry of the failed round 2 that stays
 * round 2 and builds on a teammate's commit pushed on top of the branch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeContext } from '../src/core/context/store.js';
import { runJson } from './support/cli-run.js';
import { testActor } from './support/core-workspace.js';
import { approveAndWait, dropCommand, dropTask, eventsOfType, FIXER_REPLIES, git, makePipeline, PLANNER_REPLIES, startLoops, waitFor, waitState } from './support/pipeline-harness.js';

const NOTES_REPLIES = [
  { toolCalls: [{ name: 'write_file', args: { path: 'NOTES.md', content: 'add(a, b) returns a + b\n' } }] },
  { toolCalls: [{ name: 'run_tests', args: {} }] },
  { toolCalls: [{ name: 'finish', args: { summary: 'notes written' } }] },
];

test('inbox feedback on a completed task; a rewritten remote branch fails the round without overwriting; retry stays on round 2', async (t) => {
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES } });
  await startLoops(p);
  const id = await dropTask(p, 'fix-add');
  let view = await approveAndWait(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  assert.equal(await p.ws.isSettled(view), true, 'a completed task stays settled for the loops');
  const first = view.dev.push!.sha;
  writeFileSync(join(p.root, 'executor.json'), JSON.stringify({ replies: NOTES_REPLIES }));

  // Hostile feedback files: too long is refused at intake; control characters are cleaned.
  dropCommand(p, 'too-long', { command: 'feedback', task: id, text: 'x'.repeat(20_001) });
  await waitFor('the oversized feedback is rejected', async () => existsSync(join(p.ws.paths.rejected, 'too-long.json')) || undefined, 15_000);
  assert.equal((await p.ws.task(id)).state, 'completed');
  dropCommand(p, 'followup', { command: 'feedback', task: id, text: 'Also write NOTES.md \u001b[2J\u0007please' });
  view = await waitState(p, id, ['planned', 'failed']);
  assert.equal(view.state, 'planned', view.dev.failure?.reason);
  assert.equal(view.dev.round, 2);
  const started = eventsOfType(p, id, 'round.started');
  assert.equal(started.length, 1);
  assert.equal(started[0]!.data.onCommit, first);
  assert.doesNotMatch(String(started[0]!.data.text), /[\u0000-\u0008\u000b-\u001f]/);
  assert.equal(await p.ws.isSettled(view), false);

  // Someone rewrites task/<id> on the remote (a commit that does not contain round 1's).
  const foreign = git(p.repo, 'commit-tree', '-p', 'main', '-m', 'someone else', 'main^{tree}');
  git(p.repo, 'push', '-q', '-f', 'origin', `${foreign}:refs/heads/task/${id}`);
  view = await approveAndWait(p, id, ['failed', 'completed'], 45_000);
  assert.equal(view.state, 'failed');
  assert.equal(view.dev.failure?.step, 'execute');
  assert.match(view.dev.failure!.reason, new RegExp(`task/${id} on .* was moved by someone else to ${foreign.slice(0, 10)}, which does not contain the pushed ${first.slice(0, 10)}`));
  assert.equal(git(p.remote, 'rev-parse', `task/${id}`), foreign, 'nothing overwritten');
  assert.equal(view.dev.round, 2);

  // A teammate puts the branch back and adds a commit on top; retry runs round 2 again, on theirs.
  const teammate = git(p.remote, 'commit-tree', '-p', first, '-m', 'teammate', `${first}^{tree}`);
  git(p.remote, 'update-ref', `refs/heads/task/${id}`, teammate);
  const retried = await runJson(p.root, ['retry', id]);
  assert.equal(retried.code, 0, retried.stdout);
  assert.equal(retried.json.data.state, 'approved', 'retry keeps round 2\'s approved plan');
  view = await waitState(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  assert.equal(view.dev.round, 2);
  assert.deepEqual(view.dev.rounds.map((r) => [r.round, r.plans]), [[1, [1]], [2, [2]]]);
  const tip = git(p.remote, 'rev-parse', `task/${id}`);
  assert.equal(tip, view.dev.push!.sha);
  assert.equal(git(p.remote, 'rev-parse', `${tip}^`), teammate, 'built on the teammate\'s commit');
  git(p.remote, 'merge-base', '--is-ancestor', first, tip);
  assert.equal(eventsOfType(p, id, 'exec.started').at(-1)!.data.baseCommit, teammate);
  assert.deepEqual(git(p.remote, 'show', '--name-only', '--format=', tip).split('\n'), ['NOTES.md']);
  assert.deepEqual(readdirSync(p.ws.paths.inbox).filter((f) => !['rejected'].includes(f)), []);
});

test('a follow-up round does not run a setup script an earlier round\'s model committed with the granted secrets', async (t) => {
  const TOKEN = 'npm_followupToken_91ab72cd';
  const evil = { name: 'write_file', args: { path: '.orchestra/setup.sh', content: 'printf %s "${NPM_TOKEN:+granted}" > granted.txt\n' } };
  // Round 1: the model fixes add() and also commits a setup script (prompt-injected, say).
  const round1 = [{ toolCalls: [evil] }, ...FIXER_REPLIES];
  const p = await makePipeline(t, {
    scripts: { planner: PLANNER_REPLIES, executor: round1 },
    config: { security: { trustedActors: ['cli', 'inbox'], profiles: { setup: { secrets: ['NPM_TOKEN'] } } } },
  });
  await writeContext(p.ws, { scope: { kind: 'workspace' }, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  await startLoops(p);
  const id = await dropTask(p, 'fix-add');
  let view = await approveAndWait(p, id, ['completed', 'failed'], 45_000);
  assert.equal(view.state, 'completed', view.dev.failure?.reason);
  assert.match(git(p.remote, 'show', `task/${id}:.orchestra/setup.sh`), /NPM_TOKEN/, 'the script is on the pushed branch');

  writeFileSync(join(p.root, 'executor.json'), JSON.stringify({ replies: NOTES_REPLIES }));
  assert.equal((await runJson(p.root, ['feedback', id, 'Add notes'])).code, 0);
  view = await approveAndWait(p, id, ['completed', 'failed'], 45_000);
  const setups = eventsOfType(p, id, 'setup.ran');
  assert.equal(setups.at(-1)!.data.source, 'repository', 'round 2 ran the committed script');
  assert.equal(setups.at(-1)!.data.passed, true);
  assert.equal(git(p.remote, 'show', `${view.dev.push!.sha}:granted.txt`).trim(), '', 'the script did not get the secret');
  const reads = (await p.ws.readStream('audit')).records.flatMap((r) => r.events).filter((e) => e.type === 'context.secret-read' && e.data.purpose === 'setup');
  assert.deepEqual(reads, []);
});
