/**
 * `orchestra context set|get|list|rm` and `orchestra key rotate|status`, run as a user would
 * (the built CLI as a child process): values from stdin and files, audited reveals, keys from the
 * environment, and hostile arguments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runJson } from './support/cli-run.js';
import { eventsOf, gitOut, makeWorkspace } from './support/core-workspace.js';
import { filesContaining } from './support/pipeline-harness.js';

const TOKEN = 'ghp_cliSecretValue_5521abc';

test('context set/get/list/rm: knowledge in the clear, secrets only with --reveal (audited), never in git', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const set = await runJson(root, ['context', 'set', 'build', 'Build with make\nthen make test', '--scope', 'repo:app']);
  assert.equal(set.code, 0, set.stdout + set.stderr);
  assert.deepEqual([set.json.data.ref, set.json.data.kind, set.json.data.summary], ['repo:app/build', 'knowledge', 'Build with make']);

  const secret = await runJson(root, ['context', 'set', 'GH_TOKEN', '--secret', '--stdin'], { input: `${TOKEN}\n` });
  assert.equal(secret.code, 0, secret.stdout + secret.stderr);
  assert.equal(secret.json.data.keyId, 'k1');

  const hidden = await runCli(root, ['context', 'get', 'GH_TOKEN']);
  assert.equal(hidden.code, 0);
  assert.doesNotMatch(hidden.stdout, new RegExp(TOKEN));
  assert.match(hidden.stdout, /--reveal/);
  assert.equal(eventsOf(root, 'audit').filter((e) => e.type === 'context.secret-read').length, 0, 'no value, no read recorded');

  const revealed = await runCli(root, ['context', 'get', 'GH_TOKEN', '--reveal']);
  assert.equal(revealed.stdout, `${TOKEN}\n`, 'the trailing newline of stdin is not part of the value');
  const reads = eventsOf(root, 'audit').filter((e) => e.type === 'context.secret-read');
  assert.equal(reads.length, 1);
  assert.equal(reads[0]!.data.purpose, 'cli get --reveal');
  assert.equal(reads[0]!.record.actor.kind, 'cli');
  assert.equal(JSON.stringify(reads).includes(TOKEN), false);

  const file = join(ws.paths.root, '..', 'notes.md');
  writeFileSync(file, '# Conventions\nTabs, not spaces.\n');
  assert.equal((await runCli(root, ['context', 'set', 'conventions', '--file', file])).code, 0);
  assert.equal((await runCli(root, ['context', 'get', 'conventions'])).stdout, '# Conventions\nTabs, not spaces.\n');

  const list = await runJson(root, ['context', 'list']);
  assert.deepEqual(list.json.data.map((e: { ref: string; kind: string }) => `${e.ref} ${e.kind}`), ['repo:app/build knowledge', 'workspace/GH_TOKEN secret', 'workspace/conventions knowledge']);
  assert.deepEqual((await runJson(root, ['context', 'list', '--scope', 'repo:app'])).json.data.map((e: { ref: string }) => e.ref), ['repo:app/build']);

  assert.equal((await runCli(root, ['context', 'rm', 'build', '--scope', 'repo:app'])).code, 0);
  const gone = await runJson(root, ['context', 'get', 'build', '--scope', 'repo:app']);
  assert.deepEqual([gone.code, gone.json.code], [1, 'NOT_FOUND']);
  assert.equal((await runJson(root, ['context', 'list', '--all'])).json.data.find((e: { ref: string }) => e.ref === 'repo:app/build').removed, true);
  assert.equal((await runJson(root, ['context', 'get', 'build', '--scope', 'repo:app', '--at-version', '2'])).json.code, 'NOT_FOUND', 'the tombstone is no version to print');
  assert.equal((await runCli(root, ['context', 'get', 'build', '--scope', 'repo:app', '--at-version', '1'])).stdout, 'Build with make\nthen make test\n');

  assert.equal(gitOut(root, 'log', '-p', '--all').includes(TOKEN), false);
  assert.deepEqual(filesContaining(root, TOKEN), []);
  assert.equal((await runCli(root, ['verify'])).code, 0);
});

test('key status and key rotate from the CLI; old records still verify', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  assert.match((await runCli(root, ['key', 'status'])).stdout, /no key yet/);
  await runCli(root, ['context', 'set', 'GH_TOKEN', '--secret', '--stdin'], { input: TOKEN });
  const status = await runJson(root, ['key', 'status']);
  assert.deepEqual([status.json.data.current.id, status.json.data.keys[0].secrets, status.json.data.rotationDue], ['k1', 1, false]);
  const rotated = await runJson(root, ['key', 'rotate']);
  assert.equal(rotated.code, 0, rotated.stdout);
  assert.deepEqual([rotated.json.data.to, rotated.json.data.reencrypted, rotated.json.data.retired], ['k2', 1, ['k1']]);
  assert.equal((await runCli(root, ['context', 'get', 'GH_TOKEN', '--reveal'])).stdout, `${TOKEN}\n`);
  const verify = await runJson(root, ['verify']);
  assert.equal(verify.code, 0, JSON.stringify(verify.json));
  assert.match(gitOut(root, 'log', '--format=%s%n%b'), /re-encrypted by a key rotation/);
});

test('a key from ORCHESTRA_CONTEXT_KEY: no key file is made; another key cannot open the secret', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const key = randomBytes(32).toString('base64');
  const env = { ORCHESTRA_CONTEXT_KEY: key };
  const set = await runJson(root, ['context', 'set', 'GH_TOKEN', '--secret', '--stdin'], { input: TOKEN, env });
  assert.equal(set.code, 0, set.stdout + set.stderr);
  assert.match(set.json.data.keyId, /^env-[0-9a-f]{12}$/);
  assert.equal(existsSync(join(root, '.orchestra', 'context-keys')) && readdirSync(join(root, '.orchestra', 'context-keys')).length > 0, false);
  assert.equal((await runCli(root, ['context', 'get', 'GH_TOKEN', '--reveal'], { env })).stdout, `${TOKEN}\n`);

  // The same key from a file: private (0600) works, a file others can read is refused.
  const keyFile = join(root, '..', 'context.key');
  writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
  assert.equal((await runCli(root, ['context', 'get', 'GH_TOKEN', '--reveal'], { env: { ORCHESTRA_CONTEXT_KEY_FILE: keyFile } })).stdout, `${TOKEN}\n`);
  chmodSync(keyFile, 0o644);
  const open = await runJson(root, ['context', 'get', 'GH_TOKEN', '--reveal'], { env: { ORCHESTRA_CONTEXT_KEY_FILE: keyFile } });
  assert.deepEqual([open.json.code, /chmod 600/.test(open.json.message)], ['INVALID_INPUT', true]);

  const other = await runJson(root, ['context', 'get', 'GH_TOKEN', '--reveal'], { env: { ORCHESTRA_CONTEXT_KEY: randomBytes(32).toString('hex') } });
  assert.deepEqual([other.code, other.json.code], [1, 'CONTEXT_KEY_MISSING']);
  const none = await runJson(root, ['context', 'get', 'GH_TOKEN', '--reveal']);
  assert.equal(none.json.code, 'CONTEXT_KEY_MISSING');
  assert.doesNotMatch(none.stdout + none.stderr, /at .*\.js:\d+/, 'no stack trace');
  const bad = await runJson(root, ['context', 'get', 'GH_TOKEN', '--reveal'], { env: { ORCHESTRA_CONTEXT_KEY: 'short' } });
  assert.deepEqual([bad.json.code, /32-byte key/.test(bad.json.message)], ['INVALID_INPUT', true]);
  assert.equal(JSON.stringify(bad.json).includes('short'), false, 'the key is never echoed');
});

test('hostile CLI input is refused with INVALID_INPUT and writes nothing', async (t) => {
  const ws = await makeWorkspace(t, { context: { maxContentBytes: 256 } });
  const root = ws.paths.root;
  const cases: Array<[string[], string?]> = [
    [['context', 'set', '../x', 'v']],
    [['context', 'set', 'k', 'v', '--scope', 'repo:../../etc']],
    [['context', 'set', 'k', 'v', '--stdin'], 'also stdin'],
    [['context', 'set', 'k']],
    [['context', 'set', 'k', '--stdin'], 'x'.repeat(300)],
    [['context', 'set', 'lower_ok-but-dash', '--secret', '--stdin'], TOKEN],
    [['context', 'get', 'k', '--at-version', 'abc']],
  ];
  for (const [args, input] of cases) {
    const r = await runJson(root, args, input === undefined ? {} : { input });
    assert.deepEqual([r.code, r.json.code], [1, 'INVALID_INPUT'], `${args.join(' ')}: ${r.stdout}`);
  }
  const link = join(root, '..', 'link.txt');
  symlinkSync('/etc/passwd', link);
  const viaLink = await runJson(root, ['context', 'set', 'k', '--file', link]);
  assert.deepEqual([viaLink.json.code, /symbolic link/.test(viaLink.json.message)], ['INVALID_INPUT', true]);
  assert.equal(existsSync(join(root, 'context')), false);
});

test('orchestra up rotates a key older than context.rotateAfterDays when it starts', async (t) => {
  const ws = await makeWorkspace(t, { context: { rotateAfterDays: 7 } });
  const root = ws.paths.root;
  await runCli(root, ['context', 'set', 'GH_TOKEN', '--secret', '--stdin'], { input: TOKEN });
  const keyFile = join(root, '.orchestra', 'context-keys', 'k1.json');
  writeFileSync(keyFile, JSON.stringify({ ...JSON.parse(readFileSync(keyFile, 'utf8')), createdAt: new Date(Date.now() - 8 * 86_400_000).toISOString() }), { mode: 0o600 });
  assert.equal((await runJson(root, ['key', 'status'])).json.data.rotationDue, true);
  const up = await runCli(root, ['up', '--once', '--only', 'intake'], { timeoutMs: 60_000 });
  assert.equal(up.code, 0, up.stderr);
  const status = await runJson(root, ['key', 'status']);
  assert.deepEqual([status.json.data.current.id, status.json.data.rotationDue, status.json.data.keys.map((k: { id: string }) => k.id)], ['k2', false, ['k2']]);
  assert.equal((await runCli(root, ['context', 'get', 'GH_TOKEN', '--reveal'])).stdout, `${TOKEN}\n`);
  assert.equal(eventsOf(root, 'audit').filter((e) => e.type === 'context.key-rotated').length, 1);
});
