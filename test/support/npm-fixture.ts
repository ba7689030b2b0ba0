/**
 * A real-shaped Node repository for the setup tests: the sample repo gains a dependency that is
 * not in git (node_modules is ignored), pinned by package-lock.json. The dependency is a local
 * tarball, so npm needs no network.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const run = (cwd: string, file: string, args: string[]) => execFileSync(file, args, { cwd, stdio: 'pipe', env: { ...process.env, npm_config_update_notifier: 'false' } });

export interface DependencyOptions {
  /** More lines for .gitignore (node_modules/ is always there). */
  ignore?: string[];
  /** Adds test/twice.test.js, which passes only when the dependency is installed. */
  withTest?: boolean;
  /** After the commit: push main and reset `development` to it on the remote. */
  push?: boolean;
}

/** Makes `repo` depend on the local package `twice` (packed under `dir`) and commits that. */
export function addTwiceDependency(repo: string, dir: string, opts: DependencyOptions = {}): void {
  const dep = join(dir, 'twice');
  mkdirSync(dep, { recursive: true });
  writeFileSync(join(dep, 'package.json'), JSON.stringify({ name: 'twice', version: '1.0.0', main: 'index.js' }));
  writeFileSync(join(dep, 'index.js'), 'module.exports = (x) => 2 * x;\n');
  mkdirSync(join(repo, 'vendor'), { recursive: true });
  run(dep, 'npm', ['pack', '--silent', '--pack-destination', join(repo, 'vendor')]);
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  pkg.dependencies = { twice: 'file:vendor/twice-1.0.0.tgz' };
  writeFileSync(join(repo, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  writeFileSync(join(repo, '.gitignore'), ['node_modules/', ...(opts.ignore ?? [])].map((l) => `${l}\n`).join(''));
  if (opts.withTest) {
    writeFileSync(join(repo, 'test', 'twice.test.js'), "const test = require('node:test');\nconst assert = require('node:assert');\nconst twice = require('twice');\n\ntest('the dependency is installed', () => assert.strictEqual(twice(2), 4));\n");
  }
  run(repo, 'npm', ['install', '--package-lock-only', '--offline', '--no-audit', '--no-fund']);
  rmSync(join(repo, 'node_modules'), { recursive: true, force: true });
  const steps = [['add', '-A'], ['commit', '-q', '-m', 'depend on twice']];
  if (opts.push) steps.push(['push', '-q', 'origin', 'main'], ['branch', '-f', 'development'], ['push', '-q', '-f', 'origin', 'development']);
  for (const args of steps) run(repo, 'git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args]);
}
