import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loopActor } from '../src/core/actor.js';
import { createLogger } from '../src/core/log.js';
import { IntakeLoop } from '../src/loops/intake.js';
import { runCommand } from '../src/pipeline/run-command.js';
import { makeWorkspace, waitFor } from './support/core-workspace.js';

test('half-written inbox files are not taken early: temp names wait, a growing file is taken whole', async (t) => {
  const ws = await makeWorkspace(t, { loops: { settleMs: 1200, scanIntervalMs: 100 } });
  const intake = new IntakeLoop({ ws, actor: loopActor('intake'), log: createLogger('test', () => undefined) }, runCommand);
  await intake.start();
  t.after(() => intake.stop());
  const inbox = ws.paths.inbox;

  // Names editors and copy tools use while writing are left alone, however long they sit there.
  for (const name of ['draft.md.part', '.hidden.md', 'copy.json.tmp', 'edit.md~']) writeFileSync(join(inbox, name), '---\ntitle: not yet\n---\n');
  // A file still growing: its first half alone would already parse as a task.
  const growing = join(inbox, 'growing.md');
  writeFileSync(growing, '---\ntitle: Grows\n---\nfirst half\n');
  for (let i = 0; i < 4; i++) {
    await sleep(150);
    appendFileSync(growing, `more ${i}\n`);
  }
  appendFileSync(growing, 'second half\n');
  const [task] = await waitFor('the finished file recorded', async () => {
    const tasks = await ws.tasks();
    return tasks.length ? tasks : undefined;
  }, 10_000);
  assert.equal(task!.title, 'Grows');
  assert.match(task!.description, /first half\nmore 0\nmore 1\nmore 2\nmore 3\nsecond half$/);

  await sleep(1000);
  assert.equal((await ws.tasks()).length, 1, 'no temp-named file was taken');
  for (const name of ['draft.md.part', '.hidden.md', 'copy.json.tmp', 'edit.md~']) assert.ok(existsSync(join(inbox, name)), name);
  // Renamed to its final name (the atomic way to deliver a file), it is taken.
  renameSync(join(inbox, 'draft.md.part'), join(inbox, 'draft.md'));
  await waitFor('the renamed file recorded', async () => (await ws.tasks()).length === 2, 10_000);
});

test('a JSON file is taken as soon as it parses whole; half a JSON object waits', async (t) => {
  // A settle window far longer than the test: whatever is taken early was taken by the parse rule.
  const ws = await makeWorkspace(t, { loops: { settleMs: 60_000, scanIntervalMs: 100 } });
  const intake = new IntakeLoop({ ws, actor: loopActor('intake'), log: createLogger('test', () => undefined) }, runCommand);
  await intake.start();
  t.after(() => intake.stop());
  const half = join(ws.paths.inbox, 'half.json');
  writeFileSync(half, '{"title": "Written in two parts", "description": "first');
  writeFileSync(join(ws.paths.inbox, 'whole.json'), JSON.stringify({ title: 'Whole at once' }));
  writeFileSync(join(ws.paths.inbox, 'notes.md'), '---\ntitle: Markdown waits the window\n---\n');
  await waitFor('the whole JSON file recorded', async () => (await ws.tasks()).some((v) => v.title === 'Whole at once') || undefined, 10_000);
  await intake.scan();
  assert.ok(existsSync(half), 'half a JSON object is neither taken nor rejected');
  assert.ok(existsSync(join(ws.paths.inbox, 'notes.md')), 'a Markdown file has no completeness mark: it waits out settleMs');
  appendFileSync(half, ' and second"}');
  const task = await waitFor('the finished JSON file recorded', async () => (await ws.tasks()).find((v) => v.title === 'Written in two parts'), 10_000);
  assert.equal(task.description, 'first and second', 'taken whole');
});
