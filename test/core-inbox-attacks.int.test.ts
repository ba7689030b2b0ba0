/**
 * Hostile inbox files (issue #7): code in front matter, alias bombs, deep nesting, files that
 * cannot be read or moved, unprintable and over-long names, control characters in titles,
 * names that collide with error records. Real files, the real CLI and loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { loopActor, type Actor } from '../src/core/actor.js';
import { submitTask } from '../src/adapters/inbox-port.js';
import { createLogger } from '../src/core/log.js';
import { newId } from '../src/core/ids.js';
import { IntakeLoop } from '../src/loops/intake.js';
import { runCommand } from '../src/pipeline/run-command.js';
import { Workspace } from '../src/core/workspace.js';
import { CLI, runCli, runJson } from './support/cli-run.js';
import { eventsOf, gitOut, makeWorkspace, tempDir, waitFor } from './support/core-workspace.js';

type Bad = { name: string; code: string; message: RegExp; write: (path: string) => void | Promise<void> };
const text = (content: string | Buffer) => (path: string) => writeFileSync(path, content);

function aliasBomb(levels: number): string {
  const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
  return lines.join('\n');
}

test('inbox attacks: code, bombs, deep nesting, FIFOs, sockets and name tricks are rejected or sanitised; up --once ends', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const marker = join(tempDir(t), 'pwned');
  const sockets: Array<{ close: () => void }> = [];
  t.after(() => sockets.forEach((s) => s.close()));
  const socket = (path: string) => new Promise<void>((resolve) => {
    const server = createServer().listen(path, () => resolve());
    sockets.push(server);
  });
  const js = `{ title: require('child_process').execSync('id').toString(), workstream: (require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'), 'default') }`;
  const bad: Bad[] = [
    { name: 'js.md', code: 'INVALID_INPUT', message: /declared as "js"; only YAML/, write: text(`---js\n${js}\n---\nx\n`) },
    { name: 'javascript.md', code: 'INVALID_INPUT', message: /only YAML/, write: text(`---javascript\n${js}\n---\nx\n`) },
    { name: 'js-tag.md', code: 'INVALID_INPUT', message: /tag/, write: text('---\ntitle: !!js/function "function () { return 1 }"\n---\n') },
    { name: 'custom-tag.md', code: 'INVALID_INPUT', message: /tag/, write: text('---\ntitle: !foo bar\n---\n') },
    { name: 'bomb9.md', code: 'INVALID_INPUT', message: /alias/, write: text(`---\ntitle: bomb\n${aliasBomb(9)}\n---\n`) },
    { name: 'bomb7.md', code: 'INVALID_INPUT', message: /alias/, write: text(`---\ntitle: small bomb\n${aliasBomb(7)}\n---\n`) },
    { name: 'dup-keys.md', code: 'INVALID_INPUT', message: /unique/, write: text('---\ntitle: one\ntitle: two\n---\n') },
    { name: 'deep.json', code: 'INVALID_INPUT', message: /nested more than 32/, write: text('['.repeat(5000) + ']'.repeat(5000)) },
    { name: 'deep-field.json', code: 'INVALID_INPUT', message: /nested more than 32/, write: text(`{"title":"x","f":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`) },
    { name: 'deep-flow.md', code: 'INVALID_INPUT', message: /nested too deeply/, write: text(`---\ntitle: x\nf: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n---\n`) },
    { name: 'deep-block.md', code: 'INVALID_INPUT', message: /nested too deeply/, write: text(`---\ntitle: x\nf: ${'- '.repeat(20_000)}x\n---\n`) },
    { name: 'huge-front-matter.md', code: 'INVALID_INPUT', message: /limit is 65536/, write: text(`---\ntitle: x\nf: ${'y'.repeat(100_000)}\n---\n`) },
    { name: 'huge-fields.json', code: 'INVALID_INPUT', message: /limit is 65536/, write: text(JSON.stringify({ title: 'x', f: 'y'.repeat(100_000) })) },
    { name: 'proto.json', code: 'INVALID_INPUT', message: /__proto__/, write: text('{"title":"p","__proto__":{"x":1}}') },
    { name: 'fifo.md', code: 'INVALID_INPUT', message: /only regular files/, write: (p) => { execFileSync('mkfifo', [p]); } },
    { name: 'socket.json', code: 'INVALID_INPUT', message: /only regular files/, write: socket },
    { name: 'dir.md', code: 'INVALID_INPUT', message: /directories/, write: (p) => mkdirSync(p) },
  ];
  for (const b of bad) await b.write(join(ws.paths.inbox, b.name));
  // Accepted, but cleaned: control characters in the title, a newline in the name, a name whose
  // claim name would pass the 255-byte limit.
  writeFileSync(join(ws.paths.inbox, 'controls.json'), JSON.stringify({ title: 'nul\u0000esc\u001b]0;pwned\u0007end', workstream: 'default' }));
  writeFileSync(join(ws.paths.inbox, 'new\nline.json'), JSON.stringify({ title: 'newline name' }));
  const longName = `${'L'.repeat(245)}.json`;
  writeFileSync(join(ws.paths.inbox, longName), JSON.stringify({ title: 'long name' }));
  writeFileSync(join(ws.paths.inbox, `${'é'.repeat(120)}.md`), '---\ntitle: long utf-8 name\n---\n');
  // An mtime in the future must not keep a file "still being written" forever.
  const future = join(ws.paths.inbox, 'future.json');
  writeFileSync(future, JSON.stringify({ title: 'from the future' }));
  utimesSync(future, new Date(Date.now() + 86_400_000), new Date(Date.now() + 86_400_000));

  const started = Date.now();
  const up = await runCli(root, ['up', '--once', '--only', 'intake'], { timeoutMs: 60_000 });
  assert.equal(up.code, 0, up.stderr);
  t.diagnostic(`up --once took ${Date.now() - started} ms`);
  assert.ok(!existsSync(marker), 'no code from an inbox file ran');
  assert.deepEqual(readdirSync(ws.paths.inbox), ['rejected'], 'every inbox file was handled');
  assert.deepEqual(readdirSync(ws.paths.intake), [], 'no claim is left behind');
  assert.deepEqual(readdirSync(ws.paths.rejected).sort(), bad.flatMap((b) => [b.name, `${b.name}.error.json`]).sort());
  for (const b of bad) {
    const error = JSON.parse(readFileSync(join(ws.paths.rejected, `${b.name}.error.json`), 'utf8'));
    assert.equal(error.code, b.code, `${b.name}: ${error.message}`);
    assert.match(error.message, b.message, b.name);
    assert.ok(error.message.length < 500, `${b.name}: message is short`);
  }
  const audit = eventsOf(root, 'audit').filter((e) => e.type === 'inbox.rejected').map((e) => e.data.file).sort();
  assert.deepEqual(audit, bad.map((b) => b.name).sort(), 'one audit event per rejected file');

  const tasks = await (await Workspace.open(root)).tasks();
  const byTitle = new Map(tasks.map((v) => [v.title, v]));
  assert.deepEqual([...byTitle.keys()].sort(), ['from the future', 'long name', 'long utf-8 name', 'newline name', 'nul esc ]0;pwned end']);
  assert.equal(byTitle.get('newline name')!.createdBy.includes('\n'), false, 'the actor name is printable');
  for (const v of tasks) assert.ok(Buffer.byteLength(JSON.stringify(v)) < 10_000, `${v.title}: small record`);
  // Every record reached a commit (a NUL byte in a title used to stall commits forever).
  assert.equal(gitOut(root, 'status', '--porcelain', '--', 'tasks', 'audit'), '', 'nothing left uncommitted');
  assert.match(gitOut(root, 'log', '--format=%B'), /created "nul esc \]0;pwned end"/);
});

test('a rejection never overwrites: foo.md.error.json dropped in the inbox, or already in rejected/', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  writeFileSync(join(ws.paths.inbox, 'foo.md.error.json'), '{"title":"I pretend to be an error record"}');
  writeFileSync(join(ws.paths.inbox, 'foo.md'), 'no front matter');
  // Variant: a file of the same name as the next rejection's error record is already in rejected/.
  writeFileSync(join(ws.paths.rejected, 'bar.md.error.json'), 'KEEP ME');
  writeFileSync(join(ws.paths.rejected, 'baz.md'), 'KEEP ME TOO');
  writeFileSync(join(ws.paths.inbox, 'bar.md'), '---\ntitle: [unclosed\n---\n');
  writeFileSync(join(ws.paths.inbox, 'baz.md'), '---\ntitle: [unclosed\n---\n');
  const up = await runCli(root, ['up', '--once', '--only', 'intake'], { timeoutMs: 60_000 });
  assert.equal(up.code, 0, up.stderr);

  const names = readdirSync(ws.paths.rejected);
  const content = (n: string) => readFileSync(join(ws.paths.rejected, n), 'utf8');
  assert.equal(content('bar.md.error.json'), 'KEEP ME');
  assert.equal(content('baz.md'), 'KEEP ME TOO');
  assert.equal(names.length, 2 + 4 * 2, `the four rejected files and their records, beside the two kept files: ${names.join(', ')}`);
  const records = names.filter((n) => n.endsWith('.error.json') && n !== 'bar.md.error.json').map((n) => ({ n, r: JSON.parse(content(n)) }));
  const recordOf = (original: RegExp) => records.find(({ r }) => original.test(r.originalName ?? r.file))!;
  for (const [original, reason] of [[/^foo\.md\.error\.json$/, /reserved/], [/^foo\.md$/, /front matter/], [/^bar\.md$/, /does not parse/], [/^baz\.md$/, /does not parse/]] as const) {
    const found = recordOf(original);
    assert.ok(found, `an error record for ${original}`);
    assert.match(found.r.message, reason);
    assert.equal(found.n, `${found.r.file}.error.json`, 'the record sits beside its file');
    assert.ok(names.includes(found.r.file), `${found.r.file} is in rejected/`);
  }
  assert.equal(content(recordOf(/^foo\.md\.error\.json$/).r.file), '{"title":"I pretend to be an error record"}', 'the dropped file is kept whole');
  assert.notEqual(recordOf(/^bar\.md$/).r.file, 'bar.md', 'bar.md took another name since bar.md.error.json was taken');
  assert.notEqual(recordOf(/^baz\.md$/).r.file, 'baz.md');
  assert.deepEqual(readdirSync(ws.paths.inbox), ['rejected']);
});

/** An intake loop in this process whose log lines are collected (not printed). */
function quietIntake(ws: Workspace, lines: string[] = []): IntakeLoop {
  return new IntakeLoop({ ws, actor: loopActor('intake'), log: createLogger('test', (l) => lines.push(l)) }, runCommand);
}

// Log lines are collected by the tests below, so logging must be on in this process.
process.env.ORCHESTRA_LOG = '';

test('an entry that cannot be moved to rejected/ is recorded once in the audit stream and skipped, also by the next process', async (t) => {
  const ws = await makeWorkspace(t);
  const intake = quietIntake(ws);
  await intake.start();
  t.after(() => intake.stop());
  // rejected/ replaced by a plain file: nothing can be moved there.
  rmSync(ws.paths.rejected, { recursive: true });
  writeFileSync(ws.paths.rejected, 'not a directory');
  writeFileSync(join(ws.paths.inbox, 'bad.json'), '{ nope');
  const skipped = () => eventsOf(ws.paths.root, 'audit').filter((e) => e.type === 'inbox.skipped');
  await waitFor('the skip is recorded', () => skipped().length === 1, 10_000);
  assert.match(skipped()[0]!.data.message, /cannot be moved to inbox\/rejected.*INVALID_JSON/);
  await waitFor('intake is idle with the skipped claim left in place', () => intake.idle(), 10_000);
  for (let i = 0; i < 3; i++) await intake.scan();
  assert.equal(skipped().length, 1, 'recorded once, however many scans follow');
  await intake.stop();

  const next = quietIntake(await Workspace.open(ws.paths.root));
  await next.start();
  t.after(() => next.stop());
  await next.scan();
  assert.equal(await next.idle(), true, 'a new process skips it too');
  assert.equal(skipped().length, 1);
  assert.equal(readdirSync(ws.paths.intake).length, 1, 'the file is kept, not lost');
});

test('a file whose recording keeps failing is rejected after a bounded number of tries', async (t) => {
  const ws = await makeWorkspace(t);
  const lines: string[] = [];
  const intake = quietIntake(ws, lines);
  const original = ws.appendToTask.bind(ws);
  let calls = 0;
  ws.appendToTask = async () => {
    calls++;
    throw new Error('simulated failure');
  };
  t.after(() => (ws.appendToTask = original));
  await intake.start();
  t.after(() => intake.stop());
  writeFileSync(join(ws.paths.inbox, 'unlucky.json'), JSON.stringify({ title: 'unlucky' }));
  await waitFor('the file is rejected', () => existsSync(join(ws.paths.rejected, 'unlucky.json.error.json')), 15_000);
  const error = JSON.parse(readFileSync(join(ws.paths.rejected, 'unlucky.json.error.json'), 'utf8'));
  assert.equal(error.code, 'INTERNAL');
  assert.match(error.message, /gave up after 3 tries: simulated failure/);
  assert.equal(calls, 3);
  assert.equal(lines.filter((l) => l.includes('left for the next scan')).length, 3);
  assert.ok(await waitFor('idle', () => intake.idle(), 5_000));
});

test('a full disk: intake backs off exponentially, logs once per step and idle() reports NO_SPACE', async (t) => {
  const ws = await makeWorkspace(t);
  const lines: string[] = [];
  const intake = quietIntake(ws, lines);
  const original = ws.appendToTask.bind(ws);
  ws.appendToTask = async () => {
    throw Object.assign(new Error('ENOSPC: no space left on device, open'), { code: 'ENOSPC', path: join(ws.paths.tasks, 'x') });
  };
  t.after(() => (ws.appendToTask = original));
  await intake.start();
  t.after(() => intake.stop());
  writeFileSync(join(ws.paths.inbox, 'waits.json'), JSON.stringify({ title: 'waits for space' }));
  const paused = () => lines.filter((l) => l.includes('intake paused'));
  await waitFor('three backoff steps', () => paused().length >= 3, 15_000);
  assert.match(paused()[0]!, /code=NO_SPACE .*failures=1 retryInMs=500/);
  assert.match(paused()[1]!, /failures=2 retryInMs=1000/);
  assert.match(paused()[2]!, /failures=3 retryInMs=2000/);
  const at = (l: string) => Date.parse(`1970-01-01T${l.slice(0, 12)}Z`);
  assert.ok(at(paused()[2]!) - at(paused()[1]!) >= 950, 'the retry waited for its backoff step');
  await assert.rejects(intake.idle(), (err: any) => err.code === 'NO_SPACE');
  assert.ok(existsSync(join(ws.paths.intake, readdirSync(ws.paths.intake)[0]!)), 'the claimed file is kept for later');
  // Space again: the next try records it and the loop is idle.
  ws.appendToTask = original;
  await waitFor('recorded once space is back', async () => (await ws.tasks()).some((v) => v.title === 'waits for space'), 15_000);
  await waitFor('idle', () => intake.idle().catch(() => false), 10_000);
  assert.ok(lines.some((l) => l.includes('intake recovered')));
});

test('the committer backs off too: a failing commit is retried with doubling waits, one report per try', async (t) => {
  const ws = await makeWorkspace(t);
  const reports: Array<{ at: number; failures: number; waitMs: number }> = [];
  ws.journal.commitPending = async () => {
    throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
  };
  ws.journal.start(50, (_err, step) => reports.push({ at: Date.now(), ...step }));
  t.after(() => ws.journal.stop().catch(() => undefined));
  await waitFor('three failed commits', () => reports.length >= 3, 10_000);
  assert.deepEqual(reports.slice(0, 3).map((r) => r.waitMs), [250, 500, 1000]);
  assert.ok(reports[2]!.at - reports[1]!.at >= 450, 'waited for the backoff');
});

test('control characters: task new/update strip them; a record that still holds NUL/ESC commits and prints escaped', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const created = await runJson(root, ['task', 'new', 'bell\u0007 nul-free \u001b[31mred', '--workstream', 'default']);
  assert.equal(created.code, 0, created.stdout);
  assert.equal(created.json.data.title, 'bell nul-free [31mred');
  const updated = await runJson(root, ['task', 'update', created.json.data.id, '--title', 'esc\u001b]0;retitled\u0007done']);
  assert.equal(updated.json.data.title, 'esc ]0;retitled done');
  // A record written before this fix (or by another tool) may hold anything.
  const legacy = newId();
  await ws.appendToTask(legacy, () => ({ actor: { kind: 'system', name: 'old\u0000tool' }, events: [{ type: 'task.created', data: { id: legacy, workstream: 'default', title: 'nul\u0000esc\u001b[2Jclear', description: '', tags: [], fields: {}, state: 'pending' } }] }));
  await ws.journal.flush();
  assert.equal(gitOut(root, 'status', '--porcelain', '--', 'tasks'), '', 'the record with a NUL byte is committed');
  assert.match(gitOut(root, 'log', '-1', '--format=%s'), /created "nul esc \[2Jclear"/);
  const list = await runCli(root, ['task', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.ok(!/[\u0000\u001b\u0007]/.test(list.stdout), 'no raw control character reaches the terminal');
  assert.match(list.stdout, /nul\\x00esc\\x1b\[2Jclear/);
  const show = await runCli(root, ['task', 'show', legacy]);
  assert.ok(!/[\u0000\u001b]/.test(show.stdout + show.stderr));
  const json = await runJson(root, ['task', 'show', legacy]);
  assert.equal(json.json.data.title, 'nul\u0000esc\u001b[2Jclear', 'JSON output keeps the value, JSON-escaped');
  assert.ok(json.stdout.includes('\\u001b') && !json.stdout.includes('\u001b'));
});

test('agents: front matter is plain YAML too; ---js in ai/agents is refused and never run', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const marker = join(tempDir(t), 'agent-pwned');
  mkdirSync(join(root, 'ai', 'agents'), { recursive: true });
  writeFileSync(join(root, 'ai', 'agents', 'evil.md'), `---js
{ name: (require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'), 'evil'), provider: 'scripted', model: 'm' }
---
prompt
`);
  const listed = await runJson(root, ['agent', 'list']);
  assert.equal(listed.json.code, 'INVALID_INPUT');
  assert.match(listed.json.message, /evil\.md: the front matter is declared as "js"; only YAML/);
  assert.ok(!existsSync(marker));
  writeFileSync(join(root, 'ai', 'agents', 'evil.md'), `---
name: evil
provider: scripted
model: !!js/function "function () {}"
---
prompt
`);
  assert.match((await runJson(root, ['agent', 'list'])).json.message, /tag/);
});

/** Runs `script` as root in a private mount namespace; undefined when this machine cannot. */
function inMountNamespace(script: string): { code: number; out: string } | undefined {
  try {
    execFileSync('unshare', ['-m', 'true'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  try {
    return { code: 0, out: execFileSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 }) };
  } catch (err: any) {
    return { code: err.status ?? -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

test('read-only workspace and full disk: typed errors, and up --once exits non-zero with the message', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  writeFileSync(join(ws.paths.inbox, 'ro.json'), JSON.stringify({ title: 'read only', workstream: 'default' }));
  const cli = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} -w ${JSON.stringify(root)}`;
  const ro = inMountNamespace(`mount --bind -o ro ${JSON.stringify(root)} ${JSON.stringify(root)} && ` +
    `${cli} --json task new hello --workstream default; echo "task-new=$?"; ORCHESTRA_LOG=silent timeout 30 ${cli} up --once --only intake 2>&1; echo "up=$?"`);
  if (!ro) return t.skip('unshare -m is not available here');
  assert.match(ro.out, /"code":"WORKSPACE_READONLY","message":"the workspace is on a read-only file system/, ro.out);
  assert.match(ro.out, /task-new=1/);
  assert.match(ro.out, /error \[WORKSPACE_READONLY\]: the workspace is on a read-only file system/);
  assert.match(ro.out, /up=1/, 'up --once ended, non-zero');

  // A full disk: a tiny tmpfs holding a copy of the workspace, filled up.
  const small = tempDir(t, 'orchestra-nospc-');
  const full = inMountNamespace(`mount -t tmpfs -o size=4m tmpfs ${small} && cp -a ${JSON.stringify(root)} ${small}/ws && ` +
    `(dd if=/dev/zero of=${small}/filler bs=4k 2>/dev/null; true) && ` +
    `ORCHESTRA_LOG=silent timeout 30 ${cli.replace(JSON.stringify(root), `${small}/ws`)} up --once --only intake 2>&1; echo "up=$?"`);
  assert.ok(full);
  assert.match(full.out, /error \[NO_SPACE\]: the disk holding the workspace is full/, full.out);
  assert.match(full.out, /up=1/);
  assert.ok(existsSync(join(root, 'inbox', 'ro.json')), 'the original workspace was never written');
});

test('an inbox file cannot claim to come from an adapter: only files sealed with the workspace key keep their actor', async (t) => {
  const ws = await makeWorkspace(t);
  const intake = quietIntake(ws);
  await intake.start();
  t.after(() => intake.stop());
  const claimed = { kind: 'adapter', name: 'telegram', user: '42' };
  writeFileSync(join(ws.paths.inbox, 'forged.json'), JSON.stringify({ title: 'forged actor', actor: claimed }));
  writeFileSync(join(ws.paths.inbox, 'copied-seal.json'), JSON.stringify({ title: 'copied seal', actor: claimed, seal: 'a'.repeat(64) }));
  const { taskId } = await submitTask(ws, { title: 'from the adapter' }, claimed as Actor);
  await waitFor('all three recorded', async () => (await ws.tasks()).length === 3, 10_000);
  const by = new Map((await ws.tasks()).map((v) => [v.title, v.createdBy]));
  assert.match(by.get('forged actor')!, /^inbox/, by.get('forged actor'));
  assert.match(by.get('copied seal')!, /^inbox/);
  assert.match(by.get('from the adapter')!, /telegram/, 'the adapter\'s own sealed file keeps its actor');
  assert.equal((await ws.task(taskId)).title, 'from the adapter');
  const key = statSync(join(ws.paths.runtime, 'inbox.key'));
  assert.equal(key.mode & 0o077, 0, 'the inbox key is readable by its owner only');
});
