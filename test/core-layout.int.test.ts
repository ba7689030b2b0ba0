import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newId } from '../src/core/ids.js';
import { streamOfTask, taskShard, WorkspacePaths } from '../src/core/paths.js';
import { StreamStore } from '../src/core/stream-store.js';
import { cliOk, runJson } from './support/cli-run.js';
import { gitOut, makeWorkspace, testActor } from './support/core-workspace.js';

/**
 * The task layout: new tasks live in 256 shards (`tasks/<xx>/<id>`), each commit adds exactly the
 * files written (no index, no listing), and a workspace made before shards (flat `tasks/<id>`)
 * keeps working: its tasks are found, listed, written to where they are, and verified.
 */
test('a new task lives in its shard; the commit holds exactly its files and leaves the index current on a small workspace', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const id = await cliOk(root, ['task', 'new', 'sharded', '--workstream', 'default']);
  const dir = join('tasks', taskShard(id), id);
  assert.ok(existsSync(join(root, dir, 'events', '0000000001.json')), 'the record is under tasks/<shard>/<id>');
  assert.deepEqual(readdirSync(join(root, 'tasks')).filter((n) => n === id), [], 'no flat directory for a new task');
  const committed = gitOut(root, 'show', '--name-only', '--format=', 'HEAD').split('\n');
  assert.deepEqual(committed, [`${dir}/events/0000000001.json`], 'the commit adds the written record and nothing else');
  assert.equal(gitOut(root, 'status', '--porcelain'), '', 'git status is clean: the index follows the commits on a small workspace');
  assert.match(gitOut(root, 'log', '-1', '--format=%s'), new RegExp(`^task ${id} #1: created "sharded"`), 'the message names the task, not its shard');
});

test('a workspace made before shards: flat task directories are found, listed, appended to in place and verified', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  // An old layout: the task's directory is tasks/<id>, written before any shard existed.
  const legacy = newId();
  mkdirSync(join(root, 'tasks', legacy));
  const oldStore = new StreamStore(new WorkspacePaths(root), { fsync: false, maxRecordBytes: 1024 * 1024 });
  await oldStore.append(streamOfTask(legacy), 0, { actor: testActor, events: [{ type: 'task.created', data: { id: legacy, workstream: 'default', title: 'from the old layout', description: '', tags: [], fields: {}, state: 'pending' } }] });
  assert.ok(existsSync(join(root, 'tasks', legacy, 'events', '0000000001.json')), 'the fixture is flat');
  writeFileSync(join(root, '.orchestra', 'signals', legacy), '1');
  gitOut(root, 'add', '-A', 'tasks');
  gitOut(root, '-c', 'user.name=t', '-c', 'user.email=t@l', 'commit', '-q', '-m', 'old layout');

  const fresh = await cliOk(root, ['task', 'new', 'next to it', '--workstream', 'default']);
  const list = await runJson(root, ['task', 'list']);
  assert.deepEqual(list.json.data.map((v: any) => v.id).sort(), [legacy, fresh].sort(), 'both layouts are listed');
  await cliOk(root, ['task', 'move', legacy, 'in_progress']);
  assert.ok(existsSync(join(root, 'tasks', legacy, 'events', '0000000002.json')), 'the old task grows where it is');
  assert.ok(!existsSync(join(root, 'tasks', taskShard(legacy), legacy)), 'no shard copy of an old task');
  const shown = await runJson(root, ['task', 'show', legacy]);
  assert.equal(shown.json.data.state, 'in_progress');
  const verify = await runJson(root, ['verify']);
  assert.equal(verify.json.data.ok, true, JSON.stringify(verify.json.data.findings));
  assert.ok(gitOut(root, 'ls-tree', '-r', '--name-only', 'HEAD', '--', `tasks/${legacy}`).includes('0000000002.json'), 'the append is committed in place');
});
