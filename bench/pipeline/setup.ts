import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskView } from '../../src/core/model/task.js';
import { runSandboxed, sandboxOptions } from '../../src/exec/sandbox.js';
import { runSetup } from '../../src/pipeline/setup-run.js';
import { round, summarize } from '../stats.js';
import { makeWorkspace, now, type Section } from '../harness.js';

const RUNS = 20;
const quiet = { stdio: 'pipe' as const, env: { ...process.env, npm_config_update_notifier: 'false' } };

/** A Node project whose test imports a dependency pinned by package-lock.json (a local tarball: no network). */
function sampleProject(dir: string): string {
  const dep = join(dir, 'twice');
  const repo = join(dir, 'project');
  mkdirSync(dep, { recursive: true });
  mkdirSync(join(repo, 'vendor'), { recursive: true });
  mkdirSync(join(repo, 'test'), { recursive: true });
  writeFileSync(join(dep, 'package.json'), JSON.stringify({ name: 'twice', version: '1.0.0', main: 'index.js' }));
  writeFileSync(join(dep, 'index.js'), 'module.exports = (x) => 2 * x;\n');
  execFileSync('npm', ['pack', '--silent', '--pack-destination', join(repo, 'vendor')], { cwd: dep, ...quiet });
  writeFileSync(join(repo, 'package.json'), JSON.stringify({ name: 'project', version: '1.0.0', private: true, dependencies: { twice: 'file:vendor/twice-1.0.0.tgz' }, scripts: { test: 'node --test' } }, null, 2));
  writeFileSync(join(repo, 'test', 'twice.test.js'), "const test = require('node:test');\nconst assert = require('node:assert');\ntest('twice', () => assert.strictEqual(require('twice')(2), 4));\n");
  execFileSync('npm', ['install', '--package-lock-only', '--offline', '--no-audit', '--no-fund'], { cwd: repo, ...quiet });
  // A repository with a commit: the cache keeps only an install of the files the task forked from.
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...args], { cwd: repo, ...quiet }).toString().trim();
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'sample project');
  return repo;
}

const headOf = (repo: string) => execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, ...quiet }).toString().trim();

function copyProject(from: string, to: string): string {
  execFileSync('cp', ['-R', from, to]);
  rmSync(join(to, 'node_modules'), { recursive: true, force: true });
  return to;
}

export const setupSection: Section = {
  name: 'setup',
  title: `Setup step (npm ci of a pinned dependency, then restored from the cache) and the sandbox's cost per command (${RUNS} runs each)`,
  async run(ctx) {
    const dir = await ctx.dir('setup');
    const ws = await makeWorkspace(join(dir, 'ws'), {});
    const project = sampleProject(dir);
    const task = { id: '01BENCH0000000000000000000', fields: { repo: project }, createdBy: 'cli:bench' } as unknown as TaskView;
    const signal = new AbortController().signal;

    const first = copyProject(project, join(dir, 'wt1'));
    const t1 = now();
    const installed = await runSetup(ws, task, project, first, signal, headOf(first));
    const installMs = now() - t1;
    if (!installed.passed || installed.cached) throw new Error(`setup did not install: ${installed.output.slice(-500)}`);
    const second = copyProject(project, join(dir, 'wt2'));
    const t2 = now();
    const restored = await runSetup(ws, task, project, second, signal, headOf(second));
    const restoreMs = now() - t2;
    if (!restored.cached) throw new Error('the second setup did not come from the cache');
    ctx.log(`setup: install ${round(installMs)} ms, restore ${round(restoreMs)} ms`);
    ctx.record({ key: 'setup.install.ms', label: 'setup, first task on the repo (npm ci in the sandbox, network on)', value: installMs, unit: 'ms' });
    ctx.record({ key: 'setup.cached.ms', label: 'setup, next task with the same lockfile (restored from the cache)', value: restoreMs, unit: 'ms', note: `${round(installMs / Math.max(restoreMs, 0.001))}x faster` });

    // The sandbox's added cost: the same command, bare and sandboxed.
    const opts = sandboxOptions(ws.config.sandbox);
    for (const [label, command] of [['trivial', 'true'], ['nodeTest', 'node --test']] as const) {
      const bare: number[] = [];
      const boxed: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const a = now();
        spawnSync('/bin/sh', ['-c', command], { cwd: second, stdio: 'ignore' });
        bare.push(now() - a);
        const b = now();
        const r = await runSandboxed({ ...opts, command, cwd: second, hidePaths: [ws.paths.root] });
        boxed.push(now() - b);
        if (!r.passed) throw new Error(`sandboxed ${command} failed: ${r.output.slice(-300)}`);
      }
      const sb = summarize(bare);
      const sx = summarize(boxed);
      ctx.log(`sandbox (${label}): bare p50 ${round(sb.p50)} ms, sandboxed p50 ${round(sx.p50)} ms`);
      ctx.record({ key: `sandbox.${label}.p50`, label: `\`${command}\` in the sandbox, p50`, value: sx.p50, unit: 'ms', note: `bare ${round(sb.p50)} ms: +${round(sx.p50 - sb.p50)} ms, ${round(sx.p50 / sb.p50)}x` });
    }
  },
};
