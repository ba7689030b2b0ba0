import { test } from 'node:test';
import { WorkspacePaths } from '../src/core/paths.js';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALWAYS_ACCEPTED } from '../src/core/acceptance.js';
import { claimTask } from '../src/core/leases.js';
import { createTask } from '../src/core/ops/tasks.js';
import { streamOfTask } from '../src/core/paths.js';
import { recordFileName } from '../src/core/record.js';
import { runUp } from '../src/app/up.js';
import { createLogger } from '../src/core/log.js';
import { SyncEngine } from '../src/sync/engine.js';
import { runJson } from './support/cli-run.js';
import { makeWorkspace, tempDir, testActor } from './support/core-workspace.js';
import { makeClones, type Clone } from './support/sync-clones.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

test('no remote: nothing changes (always accepted, no sync state, `orchestra sync` says how to add one)', async (t) => {
  const ws = await makeWorkspace(t);
  assert.equal(await SyncEngine.open(ws), undefined);
  assert.equal(ws.acceptance, ALWAYS_ACCEPTED);
  const { id } = await createTask(ws, { title: 'single machine' }, { actor: testActor });
  const up = await runUp(ws, { only: ['intake'], once: true, log: createLogger('test', () => undefined) });
  await up.done;
  assert.equal(ws.acceptance, ALWAYS_ACCEPTED, 'up installed nothing');
  const lease = await claimTask(ws, id, { purpose: 'x', owner: 'me', ttlMs: 60_000, actor: testActor });
  assert.ok(lease);
  assert.equal(ws.acceptance.leaseTtlMs(1500), 1500);
  await ws.acceptance.confirm(lease); // at once
  assert.equal(existsSync(join(ws.paths.runtime, 'sync')), false, 'no sync state is created');
  const r = await runJson(ws.paths.root, ['sync']);
  assert.equal(r.json.code, 'UNSUPPORTED');
  assert.match(r.json.message, /init --remote/);
});

test('`orchestra sync` reports the records it withdrew; `join` and `init --remote` refuse what they must', async (t) => {
  const { clones, remote, dir } = await makeClones(t, 2);
  const [a, b] = clones as [Clone, Clone];
  const { id } = await createTask(a.ws, { title: 'reported' }, { actor: testActor });
  await a.sync.round();
  await b.sync.round();
  await claimTask(a.ws, id, { purpose: 'execute', owner: 'executor@a', ttlMs: 60_000, actor: a.actor });
  await claimTask(b.ws, id, { purpose: 'execute', owner: 'executor@b', ttlMs: 60_000, actor: b.actor });
  await a.sync.round();
  await a.ws.journal.release();
  await b.ws.journal.release();
  const r = await runJson(b.ws.paths.root, ['sync']);
  assert.equal(r.code, 0, r.stdout);
  assert.equal(r.json.data.withdrawn.length, 1);
  assert.match(r.json.data.withdrawn[0].reason, /attempt 1 \(executor@a\) holds the task/);
  const text = await runJson(b.ws.paths.root, ['sync']);
  assert.equal(text.json.data.withdrawn.length, 0, 'reported once');

  const target = join(dir, 'joined');
  assert.equal((await runJson(dir, ['join', '--upload-pack=touch x', target])).json.code, 'INVALID_INPUT');
  mkdirSync(target);
  writeFileSync(join(target, 'keep'), 'x');
  assert.equal((await runJson(dir, ['join', remote, target])).json.code, 'CONFLICT', 'never joins into a non-empty directory');
  const emptyRemote = join(dir, 'empty.git');
  git(dir, 'init', '-q', '--bare', '-b', 'main', emptyRemote);
  assert.notEqual((await runJson(dir, ['join', emptyRemote, join(dir, 'j2')])).code, 0);
  const plainRepo = join(dir, 'plain');
  mkdirSync(plainRepo);
  git(plainRepo, 'init', '-q', '-b', 'main');
  writeFileSync(join(plainRepo, 'README'), 'not a workspace');
  git(plainRepo, 'add', '-A');
  git(plainRepo, 'commit', '-q', '-m', 'x');
  assert.equal((await runJson(dir, ['join', plainRepo, join(dir, 'j3')])).json.code, 'INVALID_INPUT');
  assert.equal(existsSync(join(dir, 'j3')), false, 'the refused clone is not left behind');
});

test('a hostile remote: a commit that rewrites an accepted record is not taken; a symlink planted at a record path arrives as a plain file', async (t) => {
  const { clones, dir, remote } = await makeClones(t, 2);
  const [a, b] = clones as [Clone, Clone];
  const { id } = await createTask(a.ws, { title: 'the original title' }, { actor: testActor });
  await a.sync.round();
  await b.sync.round();
  // An attacker with push access rewrites record 1 of the task and plants a link at position 2.
  const evil = join(dir, 'evil');
  git(dir, 'clone', '-q', remote, evil);
  const first = join(new WorkspacePaths(evil).streamDir(streamOfTask(id)), recordFileName(1));
  writeFileSync(first, '{"forged": true}\n');
  symlinkSync('/etc/passwd', join(new WorkspacePaths(evil).streamDir(streamOfTask(id)), recordFileName(2)));
  git(evil, 'add', '-A');
  git(evil, 'commit', '-q', '-m', 'rewrite');
  git(evil, 'push', '-q', 'origin', 'main');

  await b.sync.round();
  assert.equal((await b.ws.task(id)).title, 'the original title', 'the accepted record stays as it was');
  const planted = join(b.ws.paths.streamDir(streamOfTask(id)), recordFileName(2));
  assert.equal(lstatSync(planted).isSymbolicLink(), false, 'no link is followed or created');
  const state = await b.ws.readStream(streamOfTask(id));
  assert.equal(state.damaged.length, 1, 'the planted file is reported, not folded');
});
