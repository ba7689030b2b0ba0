import { promises as fs } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { git } from '../vcs/git.js';
import type { Actor } from '../core/actor.js';
import { createLogger } from '../core/log.js';
import type { TaskView } from '../core/model/task.js';
import { Workspace } from '../core/workspace.js';
import { runCommand } from '../pipeline/run-command.js';
import { initWorkspace } from './setup.js';
import { runUp } from './up.js';

const SAMPLE_FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'sample-app', version: '1.0.0', private: true, scripts: { test: 'node --test' } }, null, 2) + '\n',
  'src/math.js': 'function add(a, b) {\n  return a - b;\n}\n\nmodule.exports = { add };\n',
  'test/math.test.js': "const test = require('node:test');\nconst assert = require('node:assert');\nconst { add } = require('../src/math.js');\n\ntest('add sums two numbers', () => {\n  assert.strictEqual(add(2, 3), 5);\n});\n",
  'README.md': '# sample-app\n\nA tiny library with one bug.\n',
};

const PLANNER_SCRIPT = {
  replies: [
    { text: 'Let me look at the repository.', toolCalls: [{ name: 'list_files', args: {} }] },
    { toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }, { name: 'read_file', args: { path: 'test/math.test.js' } }] },
    {
      toolCalls: [{
        name: 'submit_plan',
        args: {
          summary: 'add() in src/math.js subtracts its arguments, so the existing test fails. Make it add them.',
          steps: ['Run the test suite to confirm the failure in test/math.test.js', 'In src/math.js, change `return a - b;` to `return a + b;`', 'Run the tests again and confirm they pass'],
          criteria: ['add(2, 3) returns 5', 'npm test passes'],
          risks: ['Callers relying on the old behaviour would change; none exist in this repository'],
        },
      }],
    },
  ],
};

const EXECUTOR_SCRIPT = {
  replies: [
    { text: 'Reading the code named in the plan.', toolCalls: [{ name: 'read_file', args: { path: 'src/math.js' } }] },
    { text: 'Running the tests first.', toolCalls: [{ name: 'run_tests', args: {} }] },
    { text: 'The test fails because add subtracts. Fixing it.', toolCalls: [{ name: 'replace_in_file', args: { path: 'src/math.js', old_text: 'return a - b;', new_text: 'return a + b;' } }] },
    { toolCalls: [{ name: 'run_tests', args: {} }] },
    { toolCalls: [{ name: 'finish', args: { summary: 'Fixed add() in src/math.js: it subtracted instead of adding\nThe existing test now passes' } }] },
  ],
};

/** Git for the sample repository: the same hardened runner as every target repository. */
async function sh(cwd: string, ...args: string[]) {
  await git(cwd, args, { allowFile: true, config: ['user.name=Demo', 'user.email=demo@localhost', 'commit.gpgsign=false'] });
}

/** A sample repo with a failing test, pushed to a local bare remote, on main and development. */
export async function makeSampleRepo(dir: string): Promise<{ repo: string; remote: string }> {
  const repo = join(dir, 'sample-app');
  const remote = join(dir, 'remote.git');
  for (const [path, content] of Object.entries(SAMPLE_FILES)) {
    await fs.mkdir(join(repo, path, '..'), { recursive: true });
    await fs.writeFile(join(repo, path), content);
  }
  await sh(repo, 'init', '-q', '-b', 'main');
  await sh(repo, 'add', '-A');
  await sh(repo, 'commit', '-q', '-m', 'initial version');
  await sh(repo, 'branch', 'development');
  await sh(dir, 'init', '-q', '--bare', '-b', 'main', remote);
  await sh(repo, 'remote', 'add', 'origin', remote);
  await sh(repo, 'push', '-q', 'origin', 'main', 'development');
  return { repo, remote };
}

async function waitFor(ws: Workspace, id: string, states: string[], timeoutMs: number): Promise<TaskView> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const view = await ws.findTask(id);
    if (view && states.includes(view.state)) return view;
    if (Date.now() > until) throw new Error(`timed out waiting for task ${id} to reach ${states.join('/')} (now ${view?.state ?? 'not recorded'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface DemoResult { ok: boolean; dir: string; workspace: string; taskId: string; state: string; link?: string }

/** The offline walk-through: task file -> plan -> approval -> scripted execution -> pushed branch. */
export async function runDemo(opts: { dir?: string; print: (line: string) => void }): Promise<DemoResult> {
  const say = opts.print;
  const dir = opts.dir ? resolve(opts.dir) : await mkdtemp(join(tmpdir(), 'orchestra-demo-'));
  await fs.mkdir(dir, { recursive: true });
  say(`Orchestra demo in ${dir} (offline: scripted models, a local bare remote)\n`);
  const { repo, remote } = await makeSampleRepo(dir);
  say(`1. Made a sample repo with a failing test: ${repo} (remote: ${remote})`);

  const wsDir = join(dir, 'workspace');
  await initWorkspace(wsDir);
  const configPath = join(wsDir, 'orchestra.json');
  const config = JSON.parse(await fs.readFile(configPath, 'utf8'));
  await fs.mkdir(join(wsDir, 'demo'), { recursive: true });
  await fs.writeFile(join(wsDir, 'demo', 'planner.json'), JSON.stringify(PLANNER_SCRIPT, null, 2));
  await fs.writeFile(join(wsDir, 'demo', 'executor.json'), JSON.stringify(EXECUTOR_SCRIPT, null, 2));
  Object.assign(config, {
    repos: { sample: repo },
    planner: { provider: 'scripted', model: 'claude-sonnet-5-5', scriptFile: 'demo/planner.json' },
    executor: { provider: 'scripted', model: 'gemini-3-flash', scriptFile: 'demo/executor.json' },
    loops: { ...config.loops, scanIntervalMs: 500, settleMs: 50 },
  });
  await fs.writeFile(configPath, JSON.stringify(config, null, 2) + '\n');
  const ws = await Workspace.open(wsDir);
  say(`2. Workspace ready: ${wsDir} (its git log is the history)`);

  const up = await runUp(ws, { only: ['intake', 'planner', 'executor', 'publisher'], log: createLogger('demo', () => undefined) });
  try {
    const taskFile = join(wsDir, 'inbox', 'fix-add.md');
    await fs.writeFile(`${taskFile}.tmp`, '---\ntitle: Fix add() so the tests pass\nrepo: sample\ntags: [bug]\n---\nadd(2, 3) should be 5. The test in test/math.test.js fails.\n');
    await fs.rename(`${taskFile}.tmp`, taskFile);
    say(`3. Dropped a task file into the inbox: ${taskFile}`);
    const planned = await waitFor(ws, await firstTaskId(ws), ['planned', 'failed'], 30_000);
    if (planned.state !== 'planned') throw new Error(`planning failed: ${planned.dev.failure?.reason ?? 'unknown reason'}`);
    say(`4. The planner proposed plan v1 for task ${planned.id}:\n`);
    say((await ws.readWorkspaceFile(planned.dev.plans[0]!.file)).split('\n').map((l) => `     ${l}`).join('\n'));
    say(`5. Approving plan v1 now, for the demo. In real use you read it and run: orchestra approve ${planned.id} --version 1`);
    const demoActor: Actor = { kind: 'cli', name: 'demo', user: 'you' };
    await runCommand(ws, { command: 'approve', task: planned.id, version: 1 }, demoActor);
    const done = await waitFor(ws, planned.id, ['completed', 'failed'], 45_000);
    say(`6. The executor worked on ${done.dev.execution?.branch ?? `task/${done.id}`}:`);
    for (const run of done.dev.testRuns) say(`     test run ${run.run}: ${run.passed ? 'passed' : 'failed'} (${run.durationMs} ms, output in ${run.file})`);
    if (done.state !== 'completed') {
      say(`   The task failed: ${done.dev.failure?.reason}`);
      return { ok: false, dir, workspace: wsDir, taskId: done.id, state: done.state };
    }
    say(`7. Committed ${done.dev.commit?.sha.slice(0, 10)} and pushed. Branch link:\n     ${done.dev.push?.link}`);
    if (done.dev.diffFile) say(`\nThe final diff:\n\n${await ws.readWorkspaceFile(done.dev.diffFile)}`);
    say(`Look around:\n  npx orchestra -w ${wsDir} task show ${done.id}\n  npx orchestra -w ${wsDir} task log ${done.id}\n  git -C ${wsDir} log --stat\n  git -C ${remote} log task/${done.id}`);
    return { ok: true, dir, workspace: wsDir, taskId: done.id, state: done.state, ...(done.dev.push ? { link: done.dev.push.link } : {}) };
  } finally {
    await up.stop();
  }
}

async function firstTaskId(ws: Workspace): Promise<string> {
  const until = Date.now() + 15_000;
  for (;;) {
    const ids = await ws.taskIds();
    if (ids.length > 0) return ids[0]!;
    if (Date.now() > until) throw new Error('the task file was not picked up from the inbox');
    await new Promise((r) => setTimeout(r, 50));
  }
}
