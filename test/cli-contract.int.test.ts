import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliOk, runCli, runJson } from './support/cli-run.js';
import { claimTask } from '../src/core/leases.js';
import { gitOut, makeWorkspace, rawRecords, tempDir, testActor, walk } from './support/core-workspace.js';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const ids = (json: any) => (json.data as Array<{ id: string }>).map((v) => v.id).sort();

describe('CLI contract', { concurrency: 3 }, () => {
  test('task update changes title, description and tags, recorded with its actor', async (t) => {
    const ws = await makeWorkspace(t);
    const root = ws.paths.root;
    const id = (await cliOk(root, ['task', 'new', 'typo titel', '--workstream', 'default', '--tag', 'old'])).trim();
    await cliOk(root, ['task', 'update', id, '--title', 'typo title', '-d', 'fixed text', '--tag', 'docs', '--tag', 'small']);
    const shown = await runJson(root, ['task', 'show', id]);
    assert.deepEqual([shown.json.data.title, shown.json.data.description, shown.json.data.tags], ['typo title', 'fixed text', ['docs', 'small']]);
    const listed = await runJson(root, ['task', 'list', '--tag', 'old']);
    assert.deepEqual(listed.json.data, []);
    const nothing = await runJson(root, ['task', 'update', id]);
    assert.equal(nothing.json.code, 'INVALID_INPUT');
    assert.equal(rawRecords(root, `tasks/${id}`).at(-1)!.actor.kind, 'cli');
  });

  test('init twice is harmless', async (t) => {
    const root = join(tempDir(t), 'ws');
    const first = await runCli(root, ['init']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^created: /);
    const commits = gitOut(root, 'rev-list', '--count', 'HEAD');
    const records = walk(join(root, 'workstreams')).sort();
    const again = await runJson(root, ['init']);
    assert.equal(again.code, 0);
    assert.equal(again.json.data.created, false);
    assert.match((await runCli(root, ['init'])).stdout, /already initialised/);
    assert.equal(gitOut(root, 'rev-list', '--count', 'HEAD'), commits, 'no new commits');
    assert.deepEqual(walk(join(root, 'workstreams')).sort(), records, 'no new records');
    const list = await runJson(root, ['workstream', 'list']);
    assert.deepEqual(list.json.data.map((w: any) => w.name).sort(), ['default', 'dev']);
  });

  test('task new prints an id; task list filters by --state, --workstream and --tag', async (t) => {
    const root = (await makeWorkspace(t)).paths.root;
    const a = await cliOk(root, ['task', 'new', 'alpha', '--tag', 'x', '--tag', 'y']);
    assert.match(a, ULID, 'task new prints the id and nothing else');
    const shown = await runJson(root, ['task', 'show', a]);
    assert.equal(shown.json.data.title, 'alpha');
    const b = await cliOk(root, ['task', 'new', 'beta', '--tag', 'x']);
    const repo = join(tempDir(t), 'app');
    execFileSync('git', ['init', '-q', repo]);
    assert.equal((await runJson(root, ['task', 'new', 'gamma', '--workstream', 'dev', '--repo', '/nowhere'])).json.code, 'INVALID_INPUT', 'the repo is checked at submission');
    const c = await cliOk(root, ['task', 'new', 'gamma', '--workstream', 'dev', '--repo', repo, '--tag', 'y']);
    await cliOk(root, ['task', 'move', b, 'in_progress']);

    assert.deepEqual(ids((await runJson(root, ['task', 'list'])).json), [a, b, c].sort());
    assert.deepEqual(ids((await runJson(root, ['task', 'list', '--state', 'in_progress'])).json), [b]);
    assert.deepEqual(ids((await runJson(root, ['task', 'list', '--state', 'pending'])).json), [a]);
    assert.deepEqual(ids((await runJson(root, ['task', 'list', '--workstream', 'dev'])).json), [c]);
    assert.deepEqual(ids((await runJson(root, ['task', 'list', '--tag', 'x'])).json), [a, b].sort());
    assert.deepEqual(ids((await runJson(root, ['task', 'list', '--tag', 'x', '--tag', 'y'])).json), [a], 'several tags: all of them');
    assert.deepEqual(ids((await runJson(root, ['task', 'list', '--workstream', 'default', '--tag', 'y'])).json), [a]);
    const text = await cliOk(root, ['task', 'list', '--state', 'in_progress']);
    assert.ok(text.includes(b) && text.includes('beta') && !text.includes(a), text);
  });

  test('task move: an invalid transition exits non-zero; --json gives status error, code INVALID_TRANSITION', async (t) => {
    const root = (await makeWorkspace(t)).paths.root;
    const id = await cliOk(root, ['task', 'new', 'strict']);
    const plain = await runCli(root, ['task', 'move', id, 'completed']);
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /INVALID_TRANSITION/);
    assert.match(plain.stderr, /cannot move from "pending" to "completed"/);
    assert.doesNotMatch(plain.stderr, /\n\s+at /, 'no stack trace');
    const json = await runJson(root, ['task', 'move', id, 'completed']);
    assert.notEqual(json.code, 0);
    assert.equal(json.json.status, 'error');
    assert.equal(json.json.code, 'INVALID_TRANSITION');
    assert.equal(typeof json.json.message, 'string');
    const missing = await runJson(root, ['task', 'move', id, 'nowhere']);
    assert.equal(missing.json.code, 'INVALID_TRANSITION');
    const unknown = await runJson(root, ['task', 'move', '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'in_progress']);
    assert.equal(unknown.json.code, 'NOT_FOUND');
    assert.equal((await runJson(root, ['task', 'show', id])).json.data.state, 'pending', 'refused moves change nothing');
    assert.equal(rawRecords(root, `tasks/${id}`).length, 1, 'refused moves write nothing');
    const ok = await runJson(root, ['task', 'move', id, 'in_progress']);
    assert.equal(ok.code, 0);
    assert.equal(ok.json.data.state, 'in_progress');
  });

  test('lock acquire/release/status: TASK_LOCKED for a second owner, NOT_OWNER release, expiry frees it', async (t) => {
    const root = (await makeWorkspace(t)).paths.root;
    const id = await cliOk(root, ['task', 'new', 'lockable']);
    assert.equal((await runJson(root, ['lock', 'status', id])).json.data.state, 'free');
    const got = await runJson(root, ['lock', 'acquire', id, '--owner', 'alice', '--ttl', '60']);
    assert.equal(got.code, 0, got.stdout);
    assert.equal(got.json.data.attempt, 1);
    const status = await runJson(root, ['lock', 'status', id]);
    assert.deepEqual([status.json.data.state, status.json.data.owner], ['held', 'alice']);

    const taken = await runJson(root, ['lock', 'acquire', id, '--owner', 'bob']);
    assert.notEqual(taken.code, 0);
    assert.equal(taken.json.code, 'TASK_LOCKED');
    assert.match(taken.json.message, /alice/);
    const notOwner = await runJson(root, ['lock', 'release', id, '--owner', 'bob']);
    assert.notEqual(notOwner.code, 0);
    assert.equal(notOwner.json.code, 'NOT_OWNER');
    assert.equal((await runJson(root, ['lock', 'status', id])).json.data.owner, 'alice', 'still alice\'s');

    assert.equal((await runJson(root, ['lock', 'release', id, '--owner', 'alice'])).code, 0);
    assert.equal((await runJson(root, ['lock', 'status', id])).json.data.state, 'free');
    assert.equal((await runJson(root, ['lock', 'release', id, '--owner', 'alice'])).json.code, 'NOT_FOUND', 'nothing left to release');

    const short = await runJson(root, ['lock', 'acquire', id, '--owner', 'carol', '--ttl', '3']);
    assert.equal(short.json.data.attempt, 2);
    assert.equal((await runJson(root, ['lock', 'acquire', id, '--owner', 'dave'])).json.code, 'TASK_LOCKED');
    await sleep(Math.max(0, Date.parse(short.json.data.expiresAt) - Date.now()) + 100);
    assert.equal((await runJson(root, ['lock', 'status', id])).json.data.state, 'expired');
    const after = await runJson(root, ['lock', 'acquire', id, '--owner', 'dave', '--ttl', '60']);
    assert.equal(after.code, 0, 'an expired lock can be taken');
    assert.equal(after.json.data.attempt, 3);
    const log = await runJson(root, ['task', 'log', id]);
    const types = log.json.data.flatMap((r: any) => r.events.map((e: any) => e.type));
    assert.deepEqual(types.filter((x: string) => x.startsWith('lease.')), ['lease.acquired', 'lease.released', 'lease.acquired', 'lease.expired', 'lease.acquired']);
  });

  test('a manual lock refuses task writes by others with TASK_LOCKED naming the owner; the owner writes; loop leases do not block', async (t) => {
    const ws = await makeWorkspace(t);
    const root = ws.paths.root;
    const id = await cliOk(root, ['task', 'new', 'guarded', '--workstream', 'default']);
    assert.equal((await runJson(root, ['lock', 'acquire', id, '--owner', 'alice', '--ttl', '60'])).code, 0);
    const before = rawRecords(root, `tasks/${id}`).length;
    for (const args of [
      ['task', 'move', id, 'in_progress'],
      ['task', 'comment', id, 'sneaking in'],
      ['task', 'update', id, '--title', 'renamed'],
      ['task', 'archive', id],
      ['task', 'comment', id, 'as bob', '--owner', 'bob'],
    ]) {
      const refused = await runJson(root, args);
      assert.notEqual(refused.code, 0, `${args.join(' ')} was refused`);
      assert.equal(refused.json.code, 'TASK_LOCKED', args.join(' '));
      assert.match(refused.json.message, /locked by alice/);
    }
    assert.equal(rawRecords(root, `tasks/${id}`).length, before, 'nothing was written');
    // The holder writes.
    assert.equal((await runJson(root, ['task', 'move', id, 'in_progress', '--owner', 'alice'])).json.data.state, 'in_progress');
    assert.equal((await runJson(root, ['task', 'comment', id, 'mine', '--owner', 'alice'])).code, 0);
    assert.equal((await runJson(root, ['task', 'update', id, '--title', 'guarded well', '--owner', 'alice'])).json.data.title, 'guarded well');
    // Released: anyone writes again.
    assert.equal((await runJson(root, ['lock', 'release', id, '--owner', 'alice'])).code, 0);
    assert.equal((await runJson(root, ['task', 'comment', id, 'free again'])).code, 0);
    // A loop's lease (any purpose but 'lock') never blocks people's commands.
    const lease = await claimTask(ws, id, { purpose: 'trigger', owner: 'loop:triggers@h#1', ttlMs: 60_000, actor: testActor });
    assert.ok(lease);
    assert.equal((await runJson(root, ['lock', 'status', id])).json.data.state, 'held');
    assert.equal((await runJson(root, ['task', 'comment', id, 'while a loop works'])).code, 0);
    assert.equal((await runJson(root, ['task', 'move', id, 'completed'])).json.data.state, 'completed');
    const shown = await runJson(root, ['task', 'show', id]);
    assert.deepEqual(shown.json.data.comments.map((c: { text: string }) => c.text), ['mine', 'free again', 'while a loop works']);
  });

  test('artifact put/get/list: content round-trips, the latest put of a path wins', async (t) => {
    const root = (await makeWorkspace(t)).paths.root;
    const id = await cliOk(root, ['task', 'new', 'with artifacts']);
    const src = join(tempDir(t), 'report.txt');
    writeFileSync(src, 'first version\n');
    const put = await runJson(root, ['artifact', 'put', 'reports/weekly.txt', '--file', src, '--task', id]);
    assert.equal(put.code, 0, put.stdout);
    assert.equal(put.json.data.size, 14);
    assert.equal((await runCli(root, ['artifact', 'get', 'reports/weekly.txt'])).stdout, 'first version\n');
    await cliOk(root, ['artifact', 'put', 'reports/weekly.txt'], { input: 'second version\n' });
    await cliOk(root, ['artifact', 'put', 'notes/a.md'], { input: '# a\n' });
    assert.equal((await runCli(root, ['artifact', 'get', 'reports/weekly.txt'])).stdout, 'second version\n');
    const list = await runJson(root, ['artifact', 'list']);
    assert.deepEqual(list.json.data.map((a: any) => a.path), ['notes/a.md', 'reports/weekly.txt']);
    assert.deepEqual((await runJson(root, ['artifact', 'list', 'reports/'])).json.data.map((a: any) => a.path), ['reports/weekly.txt']);
    assert.equal((await runJson(root, ['artifact', 'get', 'nope.txt'])).json.code, 'NOT_FOUND');
    assert.equal((await runJson(root, ['artifact', 'put', '../escape.txt'], { input: 'x' })).json.code, 'INVALID_INPUT');
    assert.equal((await runJson(root, ['artifact', 'put', 'x.txt', '--task', '01ARZ3NDEKTSV4RRFFQ69G5FAV'], { input: 'x' })).json.code, 'NOT_FOUND');
  });

  test('workstream create with custom states, tree with a parent, tasks follow the custom map', async (t) => {
    const root = (await makeWorkspace(t)).paths.root;
    const states = JSON.stringify({ todo: ['doing'], doing: ['review', 'todo'], review: ['done', 'doing'], done: [] });
    const created = await runJson(root, ['workstream', 'create', 'research', '--states', states, '--description', 'digging']);
    assert.equal(created.code, 0, created.stdout);
    assert.equal(created.json.data.initial, 'todo');
    await cliOk(root, ['workstream', 'create', 'papers', '--parent', 'research']);
    await cliOk(root, ['workstream', 'create', 'drafts', '--parent', 'papers']);
    assert.equal((await runJson(root, ['workstream', 'create', 'orphan', '--parent', 'missing'])).json.code, 'NOT_FOUND');
    assert.equal((await runJson(root, ['workstream', 'create', 'research'])).json.code, 'CONFLICT');
    assert.equal((await runJson(root, ['workstream', 'create', 'bad', '--states', '{"a":["zzz"]}'])).json.code, 'INVALID_INPUT');

    const tree = (await cliOk(root, ['workstream', 'tree'])).split('\n');
    const at = (line: string) => tree.indexOf(line);
    assert.ok(at('research - digging') >= 0 && at('  papers') === at('research - digging') + 1 && at('    drafts') === at('  papers') + 1, tree.join('\n'));
    const treeJson = await runJson(root, ['workstream', 'tree']);
    assert.deepEqual(treeJson.json.data.find((w: any) => w.name === 'papers'), { name: 'papers', parent: 'research' });

    const id = await cliOk(root, ['task', 'new', 'study', '--workstream', 'research']);
    assert.equal((await runJson(root, ['task', 'show', id])).json.data.state, 'todo');
    assert.equal((await runJson(root, ['task', 'move', id, 'done'])).json.code, 'INVALID_TRANSITION');
    for (const s of ['doing', 'review', 'done']) await cliOk(root, ['task', 'move', id, s]);
    assert.equal((await runJson(root, ['task', 'show', id])).json.data.state, 'done');
    const child = await cliOk(root, ['task', 'new', 'child task', '--workstream', 'papers']);
    assert.equal((await runJson(root, ['task', 'show', child])).json.data.state, 'pending', 'a child without states gets the default map');
  });

  test('replay: summary counts match the records on disk and the task list', async (t) => {
    const root = (await makeWorkspace(t)).paths.root;
    const a = await cliOk(root, ['task', 'new', 'one']);
    await cliOk(root, ['task', 'new', 'two']);
    await cliOk(root, ['task', 'move', a, 'in_progress']);
    await cliOk(root, ['task', 'comment', a, 'note']);
    const replay = await runJson(root, ['replay']);
    assert.equal(replay.code, 0);
    const s = replay.json.data;
    const recordFiles = ['tasks', 'workstreams', 'artifacts', 'audit'].flatMap((d) => walk(join(root, d)).filter((f) => /(^|\/)events\/\d{10}\.json$/.test(f)));
    assert.equal(s.records, recordFiles.length, 'every record file counted once');
    const tasks = (await runJson(root, ['task', 'list', '--all'])).json.data;
    assert.equal(s.tasks, tasks.length);
    const byState: Record<string, number> = {};
    for (const v of tasks) byState[v.state] = (byState[v.state] ?? 0) + 1;
    assert.deepEqual(s.byState, byState);
    assert.equal(s.workstreams, (await runJson(root, ['workstream', 'list'])).json.data.length);
    assert.equal(s.damaged, 0);
    assert.equal(s.events, 6, '2 workstreams created + 2 tasks created + 1 move + 1 comment');
  });
});
