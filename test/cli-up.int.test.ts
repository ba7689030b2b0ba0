import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cliOk, killIfRunning, runCli, runJson, spawnCli } from './support/cli-run.js';
import { eventsOf, gitOut, makeWorkspace, waitFor } from './support/core-workspace.js';

describe('CLI contract: orchestra up', { concurrency: 2 }, () => {
  test('trigger add with {task_id} substitution runs when the task enters the state (up --once)', async (t) => {
    const root = (await makeWorkspace(t)).paths.root;
    const added = await runJson(root, ['trigger', 'add', 'default', '--on', 'in_progress', '--id', 'stamp', '--command', 'echo stamp "$ORCHESTRA_WORKSTREAM" {task_id}; mkdir -p "$ORCHESTRA_ROOT_PROBE/out" 2>/dev/null; true']);
    assert.equal(added.code, 0, added.stdout);
    assert.equal((await runJson(root, ['trigger', 'add', 'default', '--on', 'nowhere', '--command', 'true'])).json.code, 'INVALID_INPUT');
    assert.match(await cliOk(root, ['trigger', 'list', 'default']), /default\/stamp: on in_progress -> echo stamp/);

    const moved = await cliOk(root, ['task', 'new', 'goes to work']);
    const stays = await cliOk(root, ['task', 'new', 'stays pending']);
    await cliOk(root, ['task', 'move', moved, 'in_progress']);

    const up = await runCli(root, ['up', '--once', '--only', 'triggers'], { env: { ORCHESTRA_ROOT_PROBE: root } });
    assert.equal(up.code, 0, up.stderr);
    const fired = eventsOf(root, `tasks/${moved}`).filter((e) => e.type === 'trigger.fired');
    assert.deepEqual(fired.map((e) => [e.data.triggerId, e.data.ok, e.data.exitCode]), [['stamp', true, 0]]);
    assert.match(fired[0].data.output, new RegExp(`stamp default ${moved}`), 'the command ran for the task that entered the state, with its id substituted');
    assert.ok(!existsSync(join(root, 'out')), 'a trigger command cannot write into the workspace');
    assert.ok(!eventsOf(root, `tasks/${stays}`).some((e) => e.type.startsWith('trigger.')));

    // Once per entry into the state: a second run does nothing; leaving and re-entering fires again.
    await runCli(root, ['up', '--once', '--only', 'triggers']);
    assert.equal(eventsOf(root, `tasks/${moved}`).filter((e) => e.type === 'trigger.fired').length, 1);
    await cliOk(root, ['task', 'move', moved, 'pending']);
    await cliOk(root, ['task', 'move', moved, 'in_progress']);
    assert.equal((await runCli(root, ['up', '--once', '--only', 'triggers'])).code, 0);
    assert.equal(eventsOf(root, `tasks/${moved}`).filter((e) => e.type === 'trigger.fired').length, 2);
    const status = await runJson(root, ['lock', 'status', moved]);
    assert.equal(status.json.data.state, 'free', 'the trigger loop released its lease');
  });

  test('a failing trigger command is recorded as failed, with its output', async (t) => {
    const root = (await makeWorkspace(t)).paths.root;
    await cliOk(root, ['trigger', 'add', 'default', '--on', 'pending', '--id', 'boom', '--command', 'echo bad {task_id} >&2; exit 3']);
    const id = await cliOk(root, ['task', 'new', 'will fail']);
    assert.equal((await runCli(root, ['up', '--once', '--only', 'triggers'])).code, 0);
    const fired = eventsOf(root, `tasks/${id}`).find((e) => e.type === 'trigger.fired')!;
    assert.equal(fired.data.ok, false);
    assert.equal(fired.data.exitCode, 3);
    assert.match(fired.data.output, new RegExp(`bad ${id}`));
  });

  test('every record reaches a git commit within ~2 s while up runs', async (t) => {
    const ws = await makeWorkspace(t);
    const root = ws.paths.root;
    const up = spawnCli(root, ['up', '--only', 'intake']);
    t.after(() => killIfRunning(up));
    await waitFor('up holds the committer lock', () => existsSync(ws.paths.committerLock), 10_000);

    // A CLI write while up runs: up's committer commits it.
    const id = await cliOk(root, ['task', 'new', 'committed by up']);
    let start = Date.now();
    await waitFor(`git log mentions ${id}`, () => gitOut(root, 'log', '--format=%s%n%b').includes(id), 2_500, 50);
    const cliLag = Date.now() - start;

    // An inbox file: recorded and committed.
    writeFileSync(join(ws.paths.inbox, 'dropped.json'), JSON.stringify({ title: 'dropped in' }));
    start = Date.now();
    const dropped = await waitFor('the inbox task', async () => (await runJson(root, ['task', 'list'])).json.data.find((v: any) => v.title === 'dropped in')?.id as string | undefined, 5_000, 50);
    await waitFor(`git log mentions ${dropped}`, () => gitOut(root, 'log', '--format=%s%n%b').includes(dropped), 2_500, 50);
    const inboxLag = Date.now() - start;

    // A second change to the same task is a separate commit that names it too.
    await cliOk(root, ['task', 'move', id, 'in_progress']);
    await waitFor('the move is committed', () => gitOut(root, 'log', '-1', '--format=%s').includes(`task ${id} #2: moved pending -> in_progress`), 2_500, 50);

    up.child.kill('SIGTERM');
    assert.equal((await up.exited).code, 0);
    assert.equal(gitOut(root, 'status', '--porcelain', '--', 'tasks', 'workstreams', 'audit', 'artifacts'), '', 'nothing left uncommitted');
    assert.ok(!existsSync(ws.paths.committerLock), 'the committer lock is released on exit');
    const dir = relative(root, ws.paths.taskDir(id));
    const tracked = gitOut(root, 'ls-tree', '-r', '--name-only', 'HEAD', '--', dir).split('\n');
    assert.deepEqual(tracked, [`${dir}/events/0000000001.json`, `${dir}/events/0000000002.json`]);
    t.diagnostic(`commit lag: cli ${cliLag} ms, inbox ${inboxLag} ms`);
  });
});
