/**
 * Review finding 8: the dependency cache is shared by every later execution with the same lockfile,
 * so only an install from the files the task forked from may fill it. A later round (or retry) runs
 * setup on files a model wrote: a package.json whose install script plants a file in node_modules
 * must not get that file into the cache, whatever the lockfile says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskView } from '../src/core/model/task.js';
import { runSetup } from '../src/pipeline/setup-run.js';
import { git, makePipeline } from './support/pipeline-harness.js';
import { addTwiceDependency } from './support/npm-fixture.js';

/** The sample repo with a dependency, pinned by package-lock.json (see support/npm-fixture.ts). */
const addDependency = (repo: string, dir: string) => addTwiceDependency(repo, dir, { ignore: ['.orchestra-cache/'] });

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
