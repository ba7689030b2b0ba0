/**
 * The context store (src/core/context/): knowledge and secret entries as records, AES-256-GCM
 * with keys outside git, audited secret reads, tamper and wrong-key detection, key rotation with
 * re-encryption, and hostile keys, scopes, refs and key files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRef, parseScope, repoScopeName, type Sealed } from '../src/core/context/entry.js';
import { keyRingDir } from '../src/core/context/keyring.js';
import { keyStatus, maybeAutoRotate, rotateKeys } from '../src/core/context/rotation.js';
import { openSecrets, secretEnvFor } from '../src/core/context/secrets.js';
import { listContext, readContext, removeContext, writeContext } from '../src/core/context/store.js';
import { isOrchestraError } from '../src/core/errors.js';
import { verifyWorkspace } from '../src/core/verify.js';
import { Workspace } from '../src/core/workspace.js';
import { eventsOf, gitOut, makeWorkspace, testActor, walk } from './support/core-workspace.js';
import { filesContaining } from './support/pipeline-harness.js';

const TOKEN = 'npm_Tok3n-plaintext-4471aa';
const DEPLOY = 'deploy-key-plaintext-88c1e0';
const repo = parseScope('repo:app');
const workspace = parseScope('workspace');

const rejects = (code: string, pattern?: RegExp) => (err: unknown) => {
  assert.ok(isOrchestraError(err), `expected an OrchestraError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (pattern) assert.match(err.message, pattern);
  return true;
};

const reader = { actor: testActor, purpose: 'test', task: undefined, repo: 'app' };

/** Appends a well-formed, checksummed and chained record: what someone who can write the workspace can forge. */
async function forgeVersion(ws: Workspace, stream: string, data: Record<string, unknown>): Promise<void> {
  const state = await ws.readStream(stream);
  await ws.store.append(stream, state.lastSeq, { actor: testActor, events: [{ type: 'context.written', data }] });
}

test('knowledge and secrets round trip; the secret is ciphertext on disk and its read is audited without the value', async (t) => {
  const ws = await makeWorkspace(t);
  const notes = await writeContext(ws, { scope: repo, key: 'test-layout', kind: 'knowledge', value: 'Tests run with node --test\nThey live under test/.', actor: testActor, writer: { role: 'planner', task: '01JD0000000000000000000000' } });
  assert.equal(notes.ref, 'repo:app/test-layout');
  assert.equal(notes.summary, 'Tests run with node --test');
  const again = await writeContext(ws, { scope: repo, key: 'test-layout', kind: 'knowledge', value: 'Tests: node --test (v2)', actor: testActor });
  assert.equal(again.versions, 2);
  assert.equal((await readContext(ws, 'repo:app/test-layout')).content, 'Tests: node --test (v2)');
  assert.equal((await readContext(ws, `repo:app/test-layout@${notes.version}`)).content, 'Tests run with node --test\nThey live under test/.', 'older versions stay readable');

  const secret = await writeContext(ws, { scope: workspace, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  assert.equal(secret.sealed?.keyId, 'k1');
  assert.equal(secret.content, undefined);
  const keyFile = join(keyRingDir(ws.paths), 'k1.json');
  assert.equal(statSync(keyFile).mode & 0o777, 0o600, 'the key file is private');
  assert.equal(statSync(keyRingDir(ws.paths)).mode & 0o777, 0o700);
  assert.match(readFileSync(join(ws.paths.root, '.gitignore'), 'utf8'), /^\.orchestra\/$/m, 'the key ring is outside git');

  assert.deepEqual(await openSecrets(ws, ['NPM_TOKEN'], reader), { NPM_TOKEN: TOKEN });
  const reads = eventsOf(ws.paths.root, 'audit').filter((e) => e.type === 'context.secret-read');
  assert.equal(reads.length, 1);
  assert.deepEqual({ ref: reads[0]!.data.ref, keyId: reads[0]!.data.keyId, purpose: reads[0]!.data.purpose }, { ref: 'workspace/NPM_TOKEN', keyId: 'k1', purpose: 'test' });
  assert.equal(reads[0]!.record.actor.name, 'test');

  const delivered = await secretEnvFor(ws, ['NPM_TOKEN'], { ...reader, purpose: 'setup' });
  assert.deepEqual(delivered, { env: { NPM_TOKEN: TOKEN }, mask: [TOKEN] });

  const listed = await listContext(ws);
  assert.deepEqual(listed.map((e) => [e.ref, e.kind]), [['repo:app/test-layout', 'knowledge'], ['workspace/NPM_TOKEN', 'secret']]);
  assert.deepEqual((await listContext(ws, { scopes: [repo] })).map((e) => e.ref), ['repo:app/test-layout']);

  await removeContext(ws, repo, 'test-layout', testActor);
  await assert.rejects(readContext(ws, 'repo:app/test-layout'), rejects('NOT_FOUND'));
  assert.equal((await readContext(ws, 'repo:app/test-layout@1')).content?.startsWith('Tests run'), true, 'a tombstone hides the entry, its versions stay');
  await assert.rejects(removeContext(ws, repo, 'test-layout', testActor), rejects('NOT_FOUND'));

  await ws.journal.flush();
  assert.deepEqual(filesContaining(ws.paths.root, TOKEN), [], 'no file of the workspace (records, git objects, keys) holds the plaintext');
  assert.equal(gitOut(ws.paths.root, 'log', '-p', '--all').includes(TOKEN), false);
  assert.ok((await verifyWorkspace(ws)).ok);
});

test('a wrong key is a clear error, never garbage; a missing key says so', async (t) => {
  const ws = await makeWorkspace(t);
  await writeContext(ws, { scope: workspace, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  const keyFile = join(keyRingDir(ws.paths), 'k1.json');
  const original = readFileSync(keyFile, 'utf8');
  writeFileSync(keyFile, JSON.stringify({ ...JSON.parse(original), key: randomBytes(32).toString('base64') }), { mode: 0o600 });
  await assert.rejects(openSecrets(await Workspace.open(ws.paths.root), ['NPM_TOKEN'], reader), rejects('CONTEXT_DECRYPT_FAILED', /not the key it was sealed with/));

  unlinkSync(keyFile);
  await assert.rejects(openSecrets(await Workspace.open(ws.paths.root), ['NPM_TOKEN'], reader), rejects('CONTEXT_KEY_MISSING', /k1/));
  assert.equal(eventsOf(ws.paths.root, 'audit').filter((e) => e.type === 'context.secret-read').length, 0, 'nothing opened, nothing recorded as read');
});

test('tampered ciphertext, a ciphertext moved to another entry, or a relabelled key id fail authentication', async (t) => {
  const ws = await makeWorkspace(t);
  const a = await writeContext(ws, { scope: workspace, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  const b = await writeContext(ws, { scope: workspace, key: 'DEPLOY_KEY', kind: 'secret', value: DEPLOY, actor: testActor });

  // A validly sealed record (checksum and chain fine) whose ciphertext has one bit flipped.
  const bytes = Buffer.from(a.sealed!.ciphertext, 'base64');
  bytes[3]! ^= 0x01;
  await forgeVersion(ws, a.stream, { key: 'NPM_TOKEN', scope: 'workspace', kind: 'secret', sealed: { ...a.sealed!, ciphertext: bytes.toString('base64') } });
  assert.ok((await verifyWorkspace(ws)).ok, 'the forged record is a well-formed record: only the crypto can tell');
  await assert.rejects(openSecrets(ws, ['NPM_TOKEN'], reader), rejects('CONTEXT_DECRYPT_FAILED', /failed authentication/));

  // B's ciphertext copied into A's entry: the AAD binds it to B's stream.
  await forgeVersion(ws, a.stream, { key: 'NPM_TOKEN', scope: 'workspace', kind: 'secret', sealed: b.sealed });
  await assert.rejects(openSecrets(ws, ['NPM_TOKEN'], reader), rejects('CONTEXT_DECRYPT_FAILED'));

  // A changed tag or nonce.
  const flip = (s: string) => Buffer.from(Buffer.from(s, 'base64').map((x, i) => (i === 0 ? x ^ 0x80 : x))).toString('base64');
  for (const field of ['tag', 'nonce'] as const) {
    await forgeVersion(ws, a.stream, { key: 'NPM_TOKEN', scope: 'workspace', kind: 'secret', sealed: { ...a.sealed!, [field]: flip(a.sealed![field]) } });
    await assert.rejects(openSecrets(ws, ['NPM_TOKEN'], reader), rejects('CONTEXT_DECRYPT_FAILED'), field);
  }
  // Relabelled with another key id that exists.
  await rotateKeys(ws, testActor); // k2 now; NPM_TOKEN cannot be re-sealed (its latest version is forged) and keeps k1
  await forgeVersion(ws, b.stream, { key: 'DEPLOY_KEY', scope: 'workspace', kind: 'secret', sealed: { ...b.sealed!, keyId: 'k2' } });
  await assert.rejects(openSecrets(ws, ['DEPLOY_KEY'], reader), rejects('CONTEXT_DECRYPT_FAILED', /not the key/));

  // A malformed sealed value is not a version at all: the fold skips it.
  const before = await readContext(await Workspace.open(ws.paths.root), 'workspace/DEPLOY_KEY');
  await forgeVersion(ws, b.stream, { key: 'DEPLOY_KEY', scope: 'workspace', kind: 'secret', sealed: { alg: 'aes-256-gcm', keyId: '../../etc', nonce: 'x', tag: 'y', ciphertext: '!!' } });
  await forgeVersion(ws, b.stream, { key: 'OTHER', scope: 'workspace', kind: 'knowledge', summary: 's', content: 'planted under another key' });
  assert.equal((await readContext(await Workspace.open(ws.paths.root), 'workspace/DEPLOY_KEY')).version, before.version);
});

test('rotation: a new key version, current secrets re-encrypted as new records, the old key retired; history still verifies and never holds the plaintext', async (t) => {
  const ws = await makeWorkspace(t);
  await writeContext(ws, { scope: workspace, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  await writeContext(ws, { scope: repo, key: 'DEPLOY_KEY', kind: 'secret', value: DEPLOY, actor: testActor });
  await writeContext(ws, { scope: repo, key: 'notes', kind: 'knowledge', value: 'plain knowledge', actor: testActor });
  await ws.journal.flush();
  const oldRecord = (await readContext(ws, 'workspace/NPM_TOKEN'));

  const report = await rotateKeys(ws, testActor);
  await ws.journal.flush(); // the rotating process commits what it wrote, as the CLI does when it exits
  assert.deepEqual({ from: report.from, to: report.to, created: report.created, reencrypted: report.reencrypted, retired: report.retired, kept: report.kept, failures: report.failures },
    { from: 'k1', to: 'k2', created: true, reencrypted: 2, retired: ['k1'], kept: [], failures: [] });
  assert.deepEqual(readdirSync(keyRingDir(ws.paths)), ['k2.json'], 'the old key file is gone');

  const fresh = await Workspace.open(ws.paths.root);
  const now = await readContext(fresh, 'workspace/NPM_TOKEN');
  assert.equal(now.sealed!.keyId, 'k2');
  assert.equal(now.versions, 2);
  assert.deepEqual(await openSecrets(fresh, ['NPM_TOKEN', 'DEPLOY_KEY'], reader), { NPM_TOKEN: TOKEN, DEPLOY_KEY: DEPLOY });
  assert.equal(eventsOf(ws.paths.root, 'audit').filter((e) => e.type === 'context.secret-read').at(-1)!.data.keyId, 'k2', 'new reads use the new key');
  // The old version is still in the records, sealed with the retired key: this workspace cannot open it.
  const old = await readContext(fresh, `workspace/NPM_TOKEN@${oldRecord.version}`);
  assert.equal(old.sealed!.keyId, 'k1');
  assert.equal(eventsOf(ws.paths.root, 'audit').filter((e) => e.type === 'context.key-rotated').length, 1);

  // New writes use the new key.
  assert.equal((await writeContext(fresh, { scope: workspace, key: 'NEW_TOKEN', kind: 'secret', value: 'another-secret-value', actor: testActor })).sealed!.keyId, 'k2');

  await fresh.journal.flush();
  const verified = await verifyWorkspace(fresh);
  assert.ok(verified.ok, JSON.stringify(verified.findings));
  assert.ok(verified.streams >= 4);
  const history = gitOut(ws.paths.root, 'log', '-p', '--all');
  assert.match(history, /re-encrypted by a key rotation/);
  for (const plain of [TOKEN, DEPLOY, 'another-secret-value']) {
    assert.equal(history.includes(plain), false, 'git history never holds a secret');
    assert.deepEqual(filesContaining(ws.paths.root, plain), [], 'no workspace file holds a secret');
  }
  assert.ok(walk(join(ws.paths.root, 'context')).length >= 5);

  // Rotating again with nothing to re-encrypt: k3, k2 retired.
  const second = await rotateKeys(fresh, testActor);
  assert.deepEqual([second.to, second.reencrypted, second.retired], ['k3', 3, ['k2']]);

  // Two rotations at once: one runs, the other is refused; every secret still opens.
  const both = await Promise.allSettled([rotateKeys(fresh, testActor), rotateKeys(fresh, testActor)]);
  assert.deepEqual(both.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code)).sort(), ['CONFLICT', 'ok']);
  assert.deepEqual(await openSecrets(await Workspace.open(ws.paths.root), ['NPM_TOKEN', 'DEPLOY_KEY', 'NEW_TOKEN'], reader), { NPM_TOKEN: TOKEN, DEPLOY_KEY: DEPLOY, NEW_TOKEN: 'another-secret-value' });
  assert.deepEqual(readdirSync(keyRingDir(ws.paths)), ['k4.json']);
});

test('automatic rotation by age (context.rotateAfterDays); 0 turns it off', async (t) => {
  const ws = await makeWorkspace(t, { context: { rotateAfterDays: 30 } });
  await writeContext(ws, { scope: workspace, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  assert.equal(await maybeAutoRotate(ws, testActor), undefined, 'a fresh key is not rotated');
  const keyFile = join(keyRingDir(ws.paths), 'k1.json');
  const aged = { ...JSON.parse(readFileSync(keyFile, 'utf8')), createdAt: new Date(Date.now() - 31 * 86_400_000).toISOString() };
  writeFileSync(keyFile, JSON.stringify(aged), { mode: 0o600 });
  assert.equal((await keyStatus(ws)).rotationDue, true);
  const rotated = await maybeAutoRotate(ws, testActor);
  assert.deepEqual([rotated?.to, rotated?.reencrypted], ['k2', 1]);
  assert.equal((await keyStatus(ws)).rotationDue, false);

  const off = await makeWorkspace(t, { context: { rotateAfterDays: 0 } });
  await writeContext(off, { scope: workspace, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  const offFile = join(keyRingDir(off.paths), 'k1.json');
  writeFileSync(offFile, JSON.stringify({ ...JSON.parse(readFileSync(offFile, 'utf8')), createdAt: '2000-01-01T00:00:00.000Z' }), { mode: 0o600 });
  assert.equal(await maybeAutoRotate(off, testActor), undefined);
});

test('hostile keys, scopes, refs, sizes and key files are refused before anything is written', async (t) => {
  const ws = await makeWorkspace(t, { context: { maxContentBytes: 1024 } });
  for (const key of ['../etc', 'a/b', '', '.hidden', 'x'.repeat(101), 'a+b', 'a\u0000b', 'ä']) {
    await assert.rejects(writeContext(ws, { scope: workspace, key, kind: 'knowledge', value: 'v', actor: testActor }), rejects('INVALID_INPUT'), JSON.stringify(key));
  }
  for (const scope of ['repo:../x', 'repo:', 'task:notaulid', 'repo:a:b', 'global', 'repo:A']) assert.throws(() => parseScope(scope), rejects('INVALID_INPUT'), scope);
  for (const ref of ['repo:app/../x', 'repo:app/k@0', 'repo:app/k@x', 'x'.repeat(300), 42]) assert.throws(() => parseRef(ref), rejects('INVALID_INPUT'), String(ref));
  await assert.rejects(writeContext(ws, { scope: workspace, key: 'big', kind: 'knowledge', value: 'x'.repeat(1025), actor: testActor }), rejects('INVALID_INPUT', /1024/));
  await assert.rejects(writeContext(ws, { scope: workspace, key: 'my-token', kind: 'secret', value: TOKEN, actor: testActor }), rejects('INVALID_INPUT', /variable name/));
  await assert.rejects(writeContext(ws, { scope: workspace, key: 'SHORT', kind: 'secret', value: 'abc', actor: testActor }), rejects('INVALID_INPUT'));
  await assert.rejects(openSecrets(ws, ['NOPE'], reader), rejects('NOT_FOUND', /no secret named NOPE/));
  assert.equal(readdirSync(ws.paths.root).includes('context'), false, 'nothing was written');
  assert.match(repoScopeName('/home/me/My Repo.git'), /^my-repo-[0-9a-f]{8}$/);

  // Key files: readable by others, or a symbolic link, are refused (the key is never read).
  await writeContext(ws, { scope: workspace, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  const keyFile = join(keyRingDir(ws.paths), 'k1.json');
  chmodSync(keyFile, 0o644);
  await assert.rejects(openSecrets(await Workspace.open(ws.paths.root), ['NPM_TOKEN'], reader), rejects('INVALID_INPUT', /chmod 600/));
  chmodSync(keyFile, 0o600);
  const elsewhere = join(ws.paths.root, '..', 'k9-target.json');
  writeFileSync(elsewhere, readFileSync(keyFile), { mode: 0o600 });
  symlinkSync(elsewhere, join(keyRingDir(ws.paths), 'k9.json'));
  await assert.rejects(openSecrets(await Workspace.open(ws.paths.root), ['NPM_TOKEN'], reader), rejects('INVALID_INPUT', /symbolic link/));
});

test('a model-shaped secret record without the value is never a knowledge entry (type confusion)', async (t) => {
  const ws = await makeWorkspace(t);
  const s = await writeContext(ws, { scope: workspace, key: 'NPM_TOKEN', kind: 'secret', value: TOKEN, actor: testActor });
  const sealed: Sealed = s.sealed!;
  await forgeVersion(ws, s.stream, { key: 'NPM_TOKEN', scope: 'workspace', kind: 'knowledge', summary: 'x', content: 'not a secret', sealed });
  const view = await readContext(ws, 'workspace/NPM_TOKEN');
  assert.equal(view.kind, 'knowledge');
  assert.equal(view.sealed, undefined, 'a knowledge version carries no ciphertext');
  await assert.rejects(openSecrets(ws, ['NPM_TOKEN'], reader), rejects('NOT_FOUND'), 'the latest version is not a secret');
});
