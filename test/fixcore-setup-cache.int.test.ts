/**
 * Review finding 8: the dependency cache is shared by every later execution with the same lockfile,
 * so only an install from the files the task forked from may fill it. A later round (or retry) runs
 * setup on files a model wrote: a package.json whose install script plants a file in node_modules
 * must not get that file into the cache, whatever the lockfile says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskView } from '../src/core/model/task.js';
import { runSetup } from '../src/pipeline/setup-run.js';
import { git, makePipeline } from './support/pipeline-harness.js';

const run = (cwd: string, file: string, args: string[]) => execFileSync(file, args, { cwd, stdio: 'pipe', env: { ...process.env, npm_config_update_notifier: 'false' } });

/** The sample repo depends on a local tarball, pinned by package-lock.json (npm needs no network). */
function addDependency(repo: string, dir: string): void {
  const dep = join(dir, 'twice');
  mkdirSync(dep, { recursive: true });
  writeFileSync(join(dep, 'package.json'), JSON.stringify({ name: 'twice', version: '1.0.0', main: 'index.js' }));
  writeFileSync(join(dep, 'index.js'), 'module.exports = (x) => 2 * x;\n');
  mkdirSync(join(repo, 'vendor'), { recursive: true });
  run(dep, 'npm', ['pack', '--silent', '--pack-destination', join(repo, 'vendor')]);
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  pkg.dependencies = { twice: 'file:vendor/twice-1.0.0.tgz' };
  writeFileSync(join(repo, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  writeFileSync(join(repo, '.gitignore'), 'node_modules/\n.orchestra-cache/\n');
  run(repo, 'npm', ['install', '--package-lock-only', '--offline', '--no-audit', '--no-fund']);
  rmSync(join(repo, 'node_modules'), { recursive: true, force: true });
  run(repo, 'git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'add', '-A']);
  run(repo, 'git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'depend on twice']);
}

test('a setup on files changed since the fork commit does not fill the dependency cache; one on the forked files does', async (t) => {
  const p = await makePipeline(t, { repoSetup: addDependency });
  const task = { id: 'T-cache', fields: { repo: 'sample' }, createdBy: 'cli:test', dev: {} } as unknown as TaskView;
  const forkedAt = git(p.repo, 'rev-parse', 'HEAD');
  const signal = new AbortController().signal;
  const deps = join(p.ws.paths.runtime, 'deps');
  const clone = (name: string) => {
    const wt = join(p.dir, name);
    git(p.dir, 'clone', '-q', p.repo, wt);
    return wt;
  };

  // Round 2: the model changed package.json (lockfile untouched): its install script plants a file.
  const round2 = clone('round2');
  const pkg = JSON.parse(readFileSync(join(round2, 'package.json'), 'utf8'));
  pkg.scripts = { ...pkg.scripts, postinstall: "node -e \"require('fs').writeFileSync('node_modules/planted.js', 'pwned')\"" };
  writeFileSync(join(round2, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  const changed = await runSetup(p.ws, task, p.repo, round2, signal, forkedAt);
  assert.deepEqual([changed.passed, changed.cached], [true, false], changed.output);
  assert.ok(existsSync(join(round2, 'node_modules', 'planted.js')), 'the install script ran (the test would prove nothing otherwise)');
  assert.equal(existsSync(deps) && readdirSync(deps).length > 0, false, 'the changed files\' install was kept in the cache');

  // Round 1: the files the task forked from: kept, and restored for the next execution.
  const fresh = await runSetup(p.ws, task, p.repo, clone('round1'), signal, forkedAt);
  assert.deepEqual([fresh.passed, fresh.cached], [true, false], fresh.output);
  assert.equal(readdirSync(deps).length, 1);
  const next = clone('next');
  const restored = await runSetup(p.ws, task, p.repo, next, signal, forkedAt);
  assert.deepEqual([restored.passed, restored.cached], [true, true], restored.output);
  assert.ok(existsSync(join(next, 'node_modules', 'twice', 'index.js')));
  assert.equal(existsSync(join(next, 'node_modules', 'planted.js')), false);
});
