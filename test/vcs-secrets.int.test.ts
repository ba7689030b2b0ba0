/**
 * Issue #7, item 4 (publish side): a key (or its reversed, base64 or hex copy) written into the
 * worktree is never committed, pushed, or kept in a diff record. Real git, the real pipeline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isOrchestraError } from '../src/core/errors.js';
import { diffAgainstBase } from '../src/vcs/changes.js';
import { commitAll } from '../src/vcs/commit.js';
import { pushTaskBranch } from '../src/vcs/push.js';
import { ensureMirror } from '../src/vcs/repo-source.js';
import { prepareWorktree } from '../src/vcs/worktree.js';
import { branches, makeFixture, sh } from './support/git-fixtures.js';
import { approveAndWait, dropTask, eventsOfType, filesContaining, FIXER_REPLIES, git, makePipeline, PLANNER_REPLIES, startLoops, TEST_CMD } from './support/pipeline-harness.js';

const author = { name: 'Orchestra Bot', email: 'bot@orchestra.invalid' };
const reversed = (s: string) => [...s].reverse().join('');
const b64 = (s: string) => Buffer.from(s).toString('base64');

function withEnv(t: { after: (fn: () => void) => void }, vars: Record<string, string>): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });
}

const secretError = (name: string, encoding: string, file: string, value: string) => (e: unknown) =>
  isOrchestraError(e, 'SECRET_IN_CHANGES') && e.message.includes(name) && e.message.includes(`(${encoding})`) && e.message.includes(file) && !e.message.includes(value);

test('reversed, base64 (1- and 2-byte prefixes) and hex copies of a key are neither committed nor kept in a diff', async (t) => {
  const key = `sk-live-${process.pid}-Zq9w8e7r6t`;
  withEnv(t, { LEAKY_SERVICE_API_KEY: key });
  const f = makeFixture();
  t.after(() => f.cleanup());
  const wt = await prepareWorktree({ repoPath: await ensureMirror(f.repo, f.cache), worktreesDir: f.worktrees, taskId: 's1' });
  const head = sh(wt.path, 'rev-parse', 'HEAD');
  writeFileSync(join(wt.path, 'ok.txt'), 'fine\n');

  const cases: Array<[string, string, string]> = [
    ['leak-reversed.txt', `${reversed(key)}\n`, 'reversed'],
    ['leak-b64-1.txt', `${b64(`=${key}`)}\n`, 'base64'],
    ['leak-b64-2.txt', `${b64(`k=${key}`)}\n`, 'base64'],
    ['leak-hex.txt', `${Buffer.from(key).toString('hex')}\n`, 'hex'],
  ];
  for (const [file, content, encoding] of cases) {
    writeFileSync(join(wt.path, file), content);
    const diff = await diffAgainstBase(wt.path, wt.baseCommit);
    assert.deepEqual(diff.secrets.map((h) => [h.name, h.encoding, h.where]), [['LEAKY_SERVICE_API_KEY', encoding, file]]);
    assert.match(diff.patch, /withheld.*LEAKY_SERVICE_API_KEY/);
    assert.equal(diff.patch.includes(content.trim()), false, 'the diff record holds no copy');
    await assert.rejects(commitAll({ worktreePath: wt.path, message: 'm', author, taskId: 's1', baseCommit: wt.baseCommit }), secretError('LEAKY_SERVICE_API_KEY', encoding, file, key));
    assert.equal(sh(wt.path, 'rev-parse', 'HEAD'), head, 'nothing committed');
    assert.equal(sh(wt.path, 'diff', '--cached', '--name-only'), '', 'index reset');
    sh(wt.path, 'clean', '-fq', file);
  }
  const clean = await diffAgainstBase(wt.path, wt.baseCommit);
  assert.deepEqual([clean.secrets, clean.files], [[], ['ok.txt']]);
});

test('a commit holding a key (made behind our back) is not pushed', async (t) => {
  const key = `tok-${process.pid}-A1b2C3d4E5`;
  const f = makeFixture();
  t.after(() => f.cleanup());
  const wt = await prepareWorktree({ repoPath: await ensureMirror(f.repo, f.cache), worktreesDir: f.worktrees, taskId: 's2' });
  writeFileSync(join(wt.path, 'config.js'), `export const t = atob("${b64(`x${key}`)}");\n`);
  sh(wt.path, 'add', '-A');
  sh(wt.path, 'commit', '-qm', 'sneaky');
  const before = branches(f.remote);
  await assert.rejects(
    pushTaskBranch({ worktreePath: wt.path, remote: f.remote, branch: wt.branch, protectedBranches: [], baseCommit: wt.baseCommit, secrets: [{ name: 'DEPLOY_TOKEN', value: key }] }),
    secretError('DEPLOY_TOKEN', 'base64', 'config.js', key),
  );
  assert.deepEqual(branches(f.remote), before, 'nothing pushed');
});

test('the example: a test run writes reversed and base64 copies of a key; the task fails, nothing is pushed, the diff record is redacted', async (t) => {
  const tag = `${process.pid}x${Date.now()}`;
  const key = `AIzaLEAK-${tag}`;
  withEnv(t, { ORCHESTRA_DEMO_API_KEY: key });
  const halves = [key.slice(0, 6), key.slice(6)];
  // The "test" computes the copies at run time (as the attack did): neither the config nor the output holds them.
  const leak = `node -e "const k=['${halves[0]}','${halves[1]}'].join('');require('fs').writeFileSync('tests-cache.txt',[...k].reverse().join('')+'\\n'+Buffer.from('xy'+k).toString('base64')+'\\n')"`;
  const p = await makePipeline(t, { scripts: { planner: PLANNER_REPLIES, executor: FIXER_REPLIES }, config: { testCommand: `${leak} && ${TEST_CMD}` } });
  const up = await startLoops(p);
  const id = await dropTask(p, 'leak');
  const view = await approveAndWait(p, id, ['completed', 'failed'], 45_000);
  await up.stop();

  assert.equal(view.state, 'failed');
  const reason = view.dev.failure?.reason ?? '';
  assert.match(reason, /ORCHESTRA_DEMO_API_KEY \((reversed|base64)\) in tests-cache\.txt/);
  assert.equal(eventsOfType(p, id, 'git.pushed').length, 0);
  assert.deepEqual(Object.keys(branches(p.remote)).sort(), ['refs/heads/development', 'refs/heads/main'], 'nothing pushed');
  const finished = eventsOfType(p, id, 'exec.finished')[0]!;
  const record = readFileSync(join(p.root, String(finished.data.diffFile)), 'utf8');
  assert.match(record, /withheld/);
  for (const copy of [key, reversed(key), b64(`xy${key}`).slice(4, -4)]) {
    // The failed task's worktree keeps the file (work is never thrown away); no record, no history holds it.
    assert.deepEqual(filesContaining(p.root, copy).filter((f) => !f.startsWith(join(p.root, '.orchestra', 'worktrees') + '/')), [], 'no copy in any workspace file');
    assert.equal(git(p.root, 'log', '-p', '--all').includes(copy), false, 'no copy in the workspace history');
    assert.equal(git(p.remote, 'log', '-p', '--all').includes(copy), false, 'no copy on the remote');
  }
});
