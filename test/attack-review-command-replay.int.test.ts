/**
 * Attack review: a sealed command file had no nonce, so an inbox writer who copied one (from
 * inbox/ before intake took it, or from inbox/rejected/) could drop it again and again: each copy
 * was carried out as the sealed actor (a Telegram user's comment, retry or approve). Adapters now
 * seal a unique nonce, which intake records as the command's cause: a copy is the same request,
 * and a request is applied once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { submitCommand } from '../src/adapters/inbox-port.js';
import { loopActor, type Actor } from '../src/core/actor.js';
import { createLogger } from '../src/core/log.js';
import { createTask } from '../src/core/ops/tasks.js';
import { IntakeLoop } from '../src/loops/intake.js';
import { checkNewTask } from '../src/pipeline/new-task-check.js';
import { runCommand } from '../src/pipeline/run-command.js';
import { makeWorkspace, testActor, waitFor } from './support/core-workspace.js';

const victim: Actor = { kind: 'adapter', name: 'telegram', user: '4343' };

test('a replayed sealed command is not carried out again', async (t) => {
  const ws = await makeWorkspace(t, { rateLimits: { enabled: false } });
  const task = await createTask(ws, { title: 't', workstream: 'default' }, { actor: testActor });
  const { file } = await submitCommand(ws, { command: 'comment', task: task.id, text: 'once' }, victim);
  const copy = readFileSync(join(ws.paths.inbox, file));
  const intake = new IntakeLoop({ ws, actor: loopActor('intake'), log: createLogger('test', () => undefined) }, runCommand, checkNewTask);
  await waitFor('intake', () => intake.idle(), 30_000);
  for (let i = 0; i < 3; i++) writeFileSync(join(ws.paths.inbox, `replay-${i}.json`), copy);
  await waitFor('intake', () => intake.idle(), 30_000);
  const comments = (await ws.readStream(`tasks/${task.id}`)).records.filter((r) => r.events.some((e) => e.type === 'task.commented'));
  assert.equal(comments.length, 1, `${comments.length} comments as ${victim.name}:${victim.user}`);
});
