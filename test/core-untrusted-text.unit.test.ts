import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backoff } from '../src/core/backoff.js';
import { describeError, isOrchestraError } from '../src/core/errors.js';
import { fitName } from '../src/core/file-names.js';
import { parseFrontMatter } from '../src/core/front-matter.js';
import { parseInboxFile } from '../src/core/inbox-format.js';
import { sealObject } from '../src/core/inbox-seal.js';
import { commitMessage } from '../src/core/journal.js';
import { NewTaskSchema, TaskUpdateSchema } from '../src/core/ops/tasks.js';
import { parseYaml } from '../src/core/safe-yaml.js';
import { forTerminal, singleLine } from '../src/core/text-sanitize.js';
import { assertJsonDepth } from '../src/core/value-limits.js';
import { loadScriptFile } from '../src/providers/scripted.js';
import { unreadable } from '../src/loops/intake-read.js';

const invalid = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => isOrchestraError(err, 'INVALID_INPUT') && message.test((err as Error).message));

/** Alias bomb: `levels` anchors, each a list of nine references to the previous one. */
function aliasBomb(levels: number): string {
  const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
  return lines.join('\n');
}

test('front matter: only plain YAML; ---js and every other language are refused without running anything', () => {
  (globalThis as any).__pwned = false;
  for (const lang of ['js', 'javascript', 'coffee', 'json', 'toml', 'JS']) {
    invalid(() => parseFrontMatter(`---${lang}\n{ title: (globalThis.__pwned = true, 'x') }\n---\nbody\n`), /only YAML front matter/);
  }
  assert.equal((globalThis as any).__pwned, false, 'the js engine was never reached');
  assert.deepEqual(parseFrontMatter('---\ntitle: ok\n---\nbody\n'), { present: true, data: { title: 'ok' }, content: 'body\n' });
  assert.deepEqual(parseFrontMatter('---yaml\ntitle: ok\n...\nbody').data, { title: 'ok' });
  assert.equal(parseFrontMatter('# no front matter').present, false);
  invalid(() => parseFrontMatter('---\ntitle: never closed\n'), /not closed/);
  invalid(() => parseFrontMatter('---\n- a list\n---\n'), /mapping/);
  // Same text twice: no cache can hand back an earlier (or poisoned) result.
  const text = '---\ntitle: same\n---\n';
  const a = parseFrontMatter(text);
  (a.data as any).title = 'changed by the first caller';
  assert.equal(parseFrontMatter(text).data.title, 'same');
});

test('safe YAML: no tags, no aliases (billion laughs), no duplicate keys, bounded size and depth', () => {
  for (const tagged of ['f: !!js/function "function () { return 1 }"', 'f: !!js/undefined ""', 'f: !foo bar', 'f: !!binary aGk=', 'f: !!str 12', 'f: !<tag:example.com,2000:x> y']) {
    invalid(() => parseYaml(tagged), /tag/i);
  }
  const start = Date.now();
  invalid(() => parseYaml(aliasBomb(9)), /alias/);
  invalid(() => parseYaml(aliasBomb(7)), /alias/);
  invalid(() => parseYaml('a: &x 1\nb: *x'), /alias/);
  assert.ok(Date.now() - start < 2000, 'bombs are refused at once, not expanded');
  invalid(() => parseYaml('title: a\ntitle: b'), /unique/);
  invalid(() => parseYaml('a: 1\n---\nb: 2'), /does not parse/);
  invalid(() => parseYaml(`f: ${'['.repeat(100_000)}${']'.repeat(100_000)}`, 'x', 1 << 20), /nested too deeply/);
  invalid(() => parseYaml(`f: ${'- '.repeat(30_000)}x`, 'x', 1 << 20), /nested too deeply/);
  invalid(() => parseYaml(`f: ${'[ '.repeat(40)}${' ]'.repeat(40)}`), /nested/);
  invalid(() => parseYaml(`t: ${'x'.repeat(70_000)}`), /limit is 65536/);
  // YAML 1.1 surprises are off: yes/no/dates/merge keys stay plain strings or keys.
  assert.deepEqual(parseYaml('a: yes\nb: 2001-01-01\n<<: {c: 1}\nd: 0x10\ne: ~'), { a: 'yes', b: '2001-01-01', '<<': { c: 1 }, d: 16, e: null });
});

test('JSON nesting is bounded before parsing; keys that reach a prototype are refused', () => {
  assert.throws(() => assertJsonDepth('['.repeat(5000) + ']'.repeat(5000)), /nested more than 32/);
  assert.throws(() => parseInboxFile('deep.json', Buffer.from(`{"title":"x","f":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`)), /nested more than 32/);
  assertJsonDepth('{"s":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"["}'); // brackets in strings do not count
  invalid(() => parseInboxFile('p.json', Buffer.from('{"title":"p","__proto__":{"polluted":1}}')), /__proto__/);
  invalid(() => parseInboxFile('p.json', Buffer.from('{"title":"p","fields":{"constructor":1}}')), /constructor/);
  invalid(() => parseInboxFile('p.md', Buffer.from('---\ntitle: p\n__proto__: {polluted: 1}\n---\n')), /__proto__/);
  assert.equal(({} as any).polluted, undefined);
  invalid(() => parseInboxFile('x.md.error.json', Buffer.from('{"title":"x"}')), /reserved/);
});

test('titles, tags and fields lose control characters at every door; field size and depth are capped', () => {
  const task = NewTaskSchema.parse({ title: 'a\u0000b\u001b]0;pwned\u0007c\r\nd\u202ee', tags: ['x\u0000y'], description: 'line1\r\nline2\u0000\u001b[2J', fields: { repo: 'r\u0000', nested: { k: 'v\u001b' } } });
  assert.equal(task.title, 'a b ]0;pwned c d e');
  assert.deepEqual(task.tags, ['x y']);
  assert.equal(task.description, 'line1\nline2  [2J');
  assert.deepEqual(task.fields, { repo: 'r ', nested: { k: 'v ' } });
  assert.equal(TaskUpdateSchema.parse({ title: 'new\u0000title' }).title, 'new title');
  assert.equal(NewTaskSchema.safeParse({ title: '\u0000\u001b' }).success, false, 'a title of only control characters is empty');
  assert.match(NewTaskSchema.safeParse({ title: 'big', fields: { blob: 'x'.repeat(70_000) } }).error!.issues[0]!.message, /limit is 65536/);
  let deep: unknown = 1;
  for (let i = 0; i < 40; i++) deep = { d: deep };
  assert.match(NewTaskSchema.safeParse({ title: 'deep', fields: { deep } }).error!.issues[0]!.message, /nested more than 32/);
  assert.equal(NewTaskSchema.safeParse({ title: 'x'.repeat(301) }).success, false);
});

test('commit messages and terminal output are safe for any text', () => {
  const message = commitMessage('task 1: created "a\u0000b\u001b[31m"', '- line\u0000one\r\n- two\u202e');
  assert.ok(!/[\u0000-\u0009\u000b-\u001f\u202e]/.test(message), JSON.stringify(message));
  assert.match(message, /^task 1: created "a b \[31m"\n\n- line one\n- two\n$/);
  assert.equal(forTerminal('ok\u001b]0;title\u0007 \u009b31m\ttab\nnext'), 'ok\\x1b]0;title\\x07 \\x9b31m\ttab\nnext');
  assert.equal(singleLine('a\nb\tc'), 'a b c');
});

test('file names: printable and within 255 bytes, extension kept', () => {
  assert.equal(fitName('new\nline.md', 100), 'new_line.md');
  const long = fitName(`${'é'.repeat(200)}.json`, 227);
  assert.ok(Buffer.byteLength(long) <= 227 && long.endsWith('_.json'), long);
  assert.equal(fitName('plain.md', 227), 'plain.md');
});

test('workspace errors: ENOSPC and EROFS become NO_SPACE and WORKSPACE_READONLY; backoff doubles to its cap', () => {
  const errno = (code: string) => Object.assign(new Error(`${code}: boom`), { code, path: '/ws/tasks/x' });
  assert.equal(describeError(errno('ENOSPC')).code, 'NO_SPACE');
  assert.equal(describeError(errno('EDQUOT')).code, 'NO_SPACE');
  assert.equal(describeError(errno('EROFS')).code, 'WORKSPACE_READONLY');
  assert.match(describeError(errno('EROFS')).message, /read-only file system \(writing \/ws\/tasks\/x\)/);
  assert.equal(describeError(errno('EACCES')).code, 'INTERNAL');
  const b = new Backoff(500, 4000);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => b.failed(0).waitMs), [500, 1000, 2000, 4000, 4000, 4000]);
  assert.ok(b.waiting(3999) && !b.waiting(4000));
  assert.equal(b.succeeded(), 6);
  assert.equal(b.failing, false);
});

test('scripted provider files use the same safe YAML loader (no tags, no aliases)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orchestra-script-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'tag.yaml'), 'replies:\n  - text: !!js/function "function () { return 1 }"\n');
  writeFileSync(join(dir, 'bomb.yaml'), `${aliasBomb(8)}\nreplies: [{ text: hi }]\n`);
  writeFileSync(join(dir, 'deep.json'), `{"replies":[{"text":"x","toolCalls":[{"name":"n","args":${'['.repeat(5000)}${']'.repeat(5000)}}]}]}`);
  writeFileSync(join(dir, 'ok.yaml'), 'replies:\n  - text: hello\n');
  invalid(() => loadScriptFile(join(dir, 'tag.yaml')), /tag/);
  invalid(() => loadScriptFile(join(dir, 'bomb.yaml')), /alias/);
  invalid(() => loadScriptFile(join(dir, 'deep.json')), /nested/);
  assert.equal(loadScriptFile(join(dir, 'ok.yaml')).replies[0]!.text, 'hello');
});

test('intake read errors of the file itself (EACCES, ELOOP, ...) reject it; others are left to the retry bound', () => {
  // Tests run as root, so EACCES cannot be produced on a real file here: the classification is checked directly.
  const errno = (code: string) => Object.assign(new Error(code), { code });
  const eacces = unreadable(errno('EACCES'));
  assert.ok(isOrchestraError(eacces, 'INVALID_INPUT') && /cannot be read \(EACCES\)/.test(eacces.message));
  assert.match((unreadable(errno('ELOOP')) as Error).message, /symbolic links/);
  const enoent = errno('ENOENT');
  assert.equal(unreadable(enoent), enoent);
});

test('inbox actors: believed only with a valid seal from the workspace key; a copied seal on changed content is a claim', () => {
  const key = randomBytes(32);
  const actor = { kind: 'adapter' as const, name: 'telegram', user: '42' };
  const sealed = sealObject(key, { title: 'from the bot', body: 'x', actor });
  const parse = (obj: unknown, k: Buffer | null = key) => parseInboxFile('t.json', Buffer.from(JSON.stringify(obj, null, 2)), k ?? undefined);
  const good = parse(sealed);
  assert.deepEqual(good.actor, actor);
  assert.equal(good.kind === 'task' && 'seal' in (good.task.fields ?? {}), false, 'the seal is not a task field');
  // Variants: the title changed after sealing; a seal made with another key; no key on this machine; no seal at all.
  for (const [what, item] of [
    ['tampered', parse({ ...sealed, title: 'changed' })],
    ['other key', parse(sealObject(randomBytes(32), { title: 'from the bot', body: 'x', actor }))],
    ['no key', parse(sealed, null)],
    ['unsealed', parse({ title: 'from the bot', body: 'x', actor })],
    ['garbage seal', parse({ title: 'from the bot', body: 'x', actor, seal: 'zz' })],
  ] as const) {
    assert.equal(item.actor, undefined, what);
    assert.deepEqual(item.claimedActor, actor, what);
  }
  const md = parseInboxFile('t.md', Buffer.from(`---\ntitle: md\nactor: {kind: adapter, name: telegram}\nseal: ${sealed.seal}\n---\n`), key);
  assert.equal(md.actor, undefined, 'Markdown files are never sealed');
});
