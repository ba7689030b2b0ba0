/** The command line as people use it: install, short ids, errors in --json, logs and diffs. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliOk, runCli, runJson } from './support/cli-run.js';
import { makeWorkspace, tempDir, testActor } from './support/core-workspace.js';
import { claimTask } from '../src/core/leases.js';
import type { Workspace } from '../src/core/workspace.js';

const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url)); // dist/test -> the checkout
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

function gitRepo(dir: string): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('git', ['init', '-q', '-b', 'main', dir]);
  execFileSync('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'init']);
  return dir;
}

/** Appends dev events to a task as a loop would (fenced by a lease), for the read commands. */
async function record(ws: Workspace, id: string, events: Array<{ type: string; data: Record<string, unknown> }>) {
  const lease = await claimTask(ws, id, { owner: 'test-loop', purpose: 'execute', ttlMs: 60_000, actor: testActor });
  assert.ok(lease);
  await lease.append(events);
  await lease.release();
}

describe('CLI ux', { concurrency: 3 }, () => {
  test('installed from the checkout into an empty prefix, without the registry, `orchestra --version` works from anywhere', async (t) => {
    const prefix = tempDir(t, 'orchestra-prefix-');
    const elsewhere = tempDir(t, 'orchestra-elsewhere-');
    const pkg = JSON.parse(readFileSync(join(CHECKOUT, 'package.json'), 'utf8'));
    // --offline: npm may not reach any registry; the checkout is linked, its dependencies are its own.
    const npm = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--install-links=false', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', CHECKOUT], {
      cwd: elsewhere, encoding: 'utf8', env: { ...process.env, npm_config_registry: 'http://127.0.0.1:9/' }, timeout: 120_000,
    });
    assert.equal(npm.status, 0, npm.stderr + npm.stdout);
    assert.match(readlinkSync(join(prefix, 'lib', 'node_modules', pkg.name)), /./, 'a link to the checkout');
    const version = spawnSync(join(prefix, 'bin', 'orchestra'), ['--version'], { cwd: elsewhere, encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), pkg.version);
    const help = spawnSync(join(prefix, 'bin', 'orchestra'), ['--help'], { cwd: elsewhere, encoding: 'utf8' });
    assert.match(help.stdout, /Event-sourced orchestrator/);
  });

  test('tasks get numbers; an id, a unique prefix (any case), #N or N name a task everywhere; ambiguity lists the candidates', async (t) => {
    const ws = await makeWorkspace(t);
    const root = ws.paths.root;
    const created = await Promise.all(['a', 'b', 'c', 'd'].map((title) => runJson(root, ['task', 'new', title])));
    const views = created.map((r) => r.json.data);
    assert.deepEqual(views.map((v) => v.number).sort(), [1, 2, 3, 4], 'concurrent writers: distinct numbers, no gaps');
    const a = views.find((v) => v.title === 'a');
    assert.match(await cliOk(root, ['task', 'new', 'plain']), ULID, 'task new still prints the id alone');

    for (const ref of [a.id, a.id.slice(0, 20).toLowerCase(), `#${a.number}`, String(a.number)]) {
      const shown = await runJson(root, ['task', 'show', ref]);
      assert.equal(shown.json.data?.id, a.id, ref);
    }
    assert.match(await cliOk(root, ['task', 'show', `#${a.number}`]), new RegExp(`id: +${a.id} \\(#${a.number}\\)`));
    assert.match(await cliOk(root, ['task', 'list']), new RegExp(`^#${a.number} +${a.id}`, 'm'));
    await cliOk(root, ['task', 'move', `#${a.number}`, 'in_progress']);
    await cliOk(root, ['task', 'comment', a.id.slice(0, 16), 'hello']);
    await cliOk(root, ['lock', 'status', String(a.number)]);
    assert.equal((await runJson(root, ['task', 'show', a.id])).json.data.state, 'in_progress');

    const ambiguous = await runJson(root, ['task', 'show', '0']);
    assert.equal(ambiguous.json.code, 'NOT_FOUND', 'digits alone are a number: there is no #0');
    const shared = views.map((v) => v.id).reduce((p: string, id: string) => { let i = 0; while (i < p.length && p[i] === id[i]) i++; return p.slice(0, i); });
    assert.ok(shared.length > 0 && !/^\d+$/.test(shared), 'ids made in the same moment share a prefix');
    const many = await runJson(root, ['task', 'archive', shared.toLowerCase()]);
    assert.equal(many.json.code, 'INVALID_INPUT');
    assert.notEqual(many.code, 0);
    for (const v of views) assert.ok(many.json.message.includes(v.id), 'every candidate is listed');
    assert.equal((await runJson(root, ['task', 'show', '#99'])).json.code, 'NOT_FOUND');
    assert.equal((await runJson(root, ['plan', 'ZZZZ'])).json.code, 'NOT_FOUND');
  });

  test('--json turns usage errors into the error envelope; task list --state with an unknown state names the known ones', async (t) => {
    const root = (await makeWorkspace(t)).paths.root;
    for (const args of [['tsak'], ['task', 'show'], ['task', 'list', '--bogus'], ['approve', 'x', '--version', 'two']]) {
      const r = await runJson(root, args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.equal(r.json.status, 'error', args.join(' '));
      assert.equal(r.json.code, 'INVALID_INPUT', args.join(' '));
      assert.equal(typeof r.json.message, 'string');
      assert.equal(r.stderr, '', 'nothing but the envelope');
    }
    const typo = await runCli(root, ['tsak']);
    assert.notEqual(typo.code, 0);
    assert.match(typo.stderr, /unknown command 'tsak'/);
    const state = await runJson(root, ['task', 'list', '--state', 'plannd']);
    assert.equal(state.json.code, 'INVALID_INPUT');
    assert.match(state.json.message, /"plannd".*known states: .*planned/);
    assert.deepEqual((await runJson(root, ['task', 'list', '--state', 'planned'])).json.data, [], 'a known state with no tasks is fine');
  });

  test('task new and task update check the repo; repo, base and test change only before execution', async (t) => {
    const ws = await makeWorkspace(t, { repos: { known: '/nonexistent' } });
    const root = ws.paths.root;
    const repo = gitRepo(join(tempDir(t), 'app'));
    const bad = await runJson(root, ['task', 'new', 'x', '--workstream', 'dev', '--repo', 'nosuchrepo']);
    assert.equal(bad.json.code, 'INVALID_INPUT');
    assert.match(bad.json.message, /known/);
    assert.equal((await runJson(root, ['task', 'list', '--all'])).json.data.length, 0, 'nothing was created');
    const id = await cliOk(root, ['task', 'new', 'x', '--workstream', 'dev', '--repo', repo]);
    const refused = await runJson(root, ['task', 'update', id, '--repo', 'nosuchrepo']);
    assert.equal(refused.json.code, 'INVALID_INPUT');
    await cliOk(root, ['task', 'update', id, '--base', 'main', '--test', 'make check', '--repo', repo]);
    const view = (await runJson(root, ['task', 'show', id])).json.data;
    assert.deepEqual([view.fields.repo, view.fields.base, view.fields.test], [repo, 'main', 'make check']);
    await record(ws, id, [{ type: 'exec.started', data: { worktree: '/w', branch: `task/${id}`, base: 'main', baseCommit: 'abc', planVersion: 1 } }]);
    const late = await runJson(root, ['task', 'update', id, '--test', 'npm test']);
    assert.equal(late.json.code, 'INVALID_TRANSITION');
    assert.match(late.json.message, /only before execution/);
    await cliOk(root, ['task', 'update', id, '--title', 'still fine']);
  });

  test('task log shows the trail (tools called, refusals, setup, tests) with leases collapsed; show has summary and diff stat; diff prints the diff', async (t) => {
    const ws = await makeWorkspace(t);
    const root = ws.paths.root;
    const id = await cliOk(root, ['task', 'new', 'work', '--workstream', 'dev', '--repo', gitRepo(join(tempDir(t), 'app'))]);
    assert.match(await cliOk(root, ['diff', id]), /no diff yet/);
    const patch = await ws.writeTaskFile(id, 'exec1-aborted.diff', 'diff --git a/x b/x\n+partial\n');
    assert.match(await cliOk(root, ['diff', id]), /work saved by a aborted run[\s\S]*\+partial/);
    await record(ws, id, [
      { type: 'setup.ran', data: { command: 'npm ci', source: 'detected', passed: true, cached: false, exitCode: 0, durationMs: 2100, file: 'tasks/x/records/setup.txt' } },
      { type: 'model.called', data: { role: 'executor', model: 'gemini-3-flash', inputTokens: 1200, outputTokens: 80, costUsd: 0.0123, toolCalls: [{ id: '1', name: 'read_file', args: { path: 'src/math.js' } }, { id: '2', name: 'run_tests', args: {} }] } },
      { type: 'tool.refused', data: { role: 'executor', name: 'git_push', reason: 'refused: there is no tool "git_push"' } },
      { type: 'tests.ran', data: { run: 1, passed: false, exitCode: 1, durationMs: 300, file: 'tasks/x/records/t1.txt' } },
      { type: 'tests.ran', data: { run: 2, passed: true, exitCode: 0, durationMs: 300, file: 'tasks/x/records/t2.txt' } },
    ]);
    const log = await cliOk(root, ['task', 'log', id.slice(0, 12)]);
    assert.match(log, /setup passed: npm ci/);
    assert.match(log, /executor model gemini-3-flash: 1200 in \/ 80 out tokens, \$0\.0123; read_file\(src\/math\.js\), run_tests/);
    assert.match(log, /executor tool git_push refused: refused: there is no tool "git_push"/);
    assert.match(log, /test run 1 failed \(exit 1\)/);
    assert.match(log, /test run 2 passed/);
    assert.doesNotMatch(log, /claimed by|released attempt/);
    assert.match(log, /2 lease events hidden; --all shows them/);
    const all = await cliOk(root, ['task', 'log', id, '--all']);
    assert.ok(all.split('\n').length >= log.split('\n').length + 1, 'the lease records are back');
    const json = (await runJson(root, ['task', 'log', id])).json.data;
    assert.ok(json.some((r: any) => r.events.some((e: any) => e.type === 'lease.acquired')), '--json keeps every record');

    const final = await ws.writeTaskFile(id, 'exec1-final.diff', 'diff --git a/src/math.js b/src/math.js\n-  return a - b;\n+  return a + b;\n');
    await record(ws, id, [{ type: 'exec.finished', data: { summary: 'fixed add()', diffStat: ' src/math.js | 2 +-\n 1 file changed', diffFile: final } }]);
    const shown = await cliOk(root, ['task', 'show', id]);
    assert.match(shown, /summary: +fixed add\(\)/);
    assert.match(shown, /diff: +src\/math\.js \| 2 \+-/);
    assert.match(shown, /usage: +1 model call, 1200 tokens in \/ 80 out, \$0\.0123/);
    assert.match(shown, /tests: +2 runs, last passed/);
    const diff = await cliOk(root, ['diff', id]);
    assert.match(diff, /^# final diff: /);
    assert.match(diff, /\+  return a \+ b;/);
    assert.equal((await runJson(root, ['diff', id])).json.data.file, final);
    assert.notEqual(patch, final);
  });
});
