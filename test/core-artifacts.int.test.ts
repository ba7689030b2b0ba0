import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, cliOk, runCli, runJson } from './support/cli-run.js';
import { makeWorkspace, tempDir } from './support/core-workspace.js';

// Artifacts are stored by content hash under artifacts/blobs/. Anyone who can write the workspace
// could plant links or swap blobs there; nobody may make `artifact get` serve a file from outside.

test('a symlink planted under artifacts/blobs/ is never followed: get refuses it, a later put replaces it', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const outside = join(tempDir(t), 'secret.txt');
  writeFileSync(outside, 'outside the workspace\n');
  const put = await runJson(root, ['artifact', 'put', 'notes/a.txt'], { input: 'real content\n' });
  assert.equal(put.code, 0, put.stderr);
  const blob = join(root, 'artifacts', 'blobs', put.json.data.sha256);

  rmSync(blob);
  symlinkSync(outside, blob);
  const get = await runJson(root, ['artifact', 'get', 'notes/a.txt']);
  assert.equal(get.json.code, 'WORKSPACE_DAMAGED', get.stdout);
  assert.match(get.json.message, /symbolic link/);
  assert.doesNotMatch(get.stdout, /outside the workspace/);

  // Putting the same content again replaces the planted link with the real blob.
  await cliOk(root, ['artifact', 'put', 'notes/a.txt'], { input: 'real content\n' });
  assert.equal((await runCli(root, ['artifact', 'get', 'notes/a.txt'])).stdout, 'real content\n');
});

test('variant: a blob swapped for other bytes, and the whole blobs directory replaced by a link, are refused', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const put = await runJson(root, ['artifact', 'put', 'x.txt'], { input: 'original\n' });
  const blobs = join(root, 'artifacts', 'blobs');
  writeFileSync(join(blobs, put.json.data.sha256), 'swapped\n');
  const swapped = await runJson(root, ['artifact', 'get', 'x.txt']);
  assert.equal(swapped.json.code, 'WORKSPACE_DAMAGED');
  assert.match(swapped.json.message, /does not match its hash/);

  const elsewhere = tempDir(t);
  writeFileSync(join(elsewhere, put.json.data.sha256), 'original\n');
  rmSync(blobs, { recursive: true });
  symlinkSync(elsewhere, blobs);
  const linked = await runJson(root, ['artifact', 'get', 'x.txt']);
  assert.equal(linked.json.code, 'WORKSPACE_DAMAGED');
  assert.match(linked.json.message, /not a directory/);
  const refused = await runJson(root, ['artifact', 'put', 'y.txt'], { input: 'new\n' });
  assert.equal(refused.json.code, 'WORKSPACE_DAMAGED', 'nothing is written through the link');
  assert.deepEqual(readdirSync(elsewhere), [put.json.data.sha256]);
});

test('artifacts over storage.maxArtifactBytes are refused while streaming: nothing stored, no temp left, an endless pipe ends', async (t) => {
  const ws = await makeWorkspace(t, { storage: { maxArtifactBytes: 64 * 1024 } });
  const root = ws.paths.root;
  const big = join(tempDir(t), 'big.bin');
  writeFileSync(big, Buffer.alloc(64 * 1024 + 1, 7));
  const fromFile = await runJson(root, ['artifact', 'put', 'big.bin', '--file', big]);
  assert.equal(fromFile.json.code, 'ARTIFACT_TOO_LARGE', fromFile.stdout);
  assert.match(fromFile.json.message, /65536 bytes/);

  // Variant: an endless stream on stdin (`yes`), which would fill the disk if read whole.
  const child = spawn('sh', ['-c', `yes | "${process.execPath}" "${CLI}" -w "${root}" --json artifact put endless.txt`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.on('close', r));
  assert.notEqual(code, 0);
  assert.equal(JSON.parse(out).code, 'ARTIFACT_TOO_LARGE');

  const blobs = join(root, 'artifacts', 'blobs');
  assert.deepEqual(existsSync(blobs) ? readdirSync(blobs) : [], [], 'no blob and no temp file is left');
  assert.deepEqual((await runJson(root, ['artifact', 'list'])).json.data, [], 'no artifact was recorded');
  // Exactly at the limit is fine.
  writeFileSync(big, Buffer.alloc(64 * 1024, 7));
  assert.equal((await runJson(root, ['artifact', 'put', 'ok.bin', '--file', big])).code, 0);
});

test('variant: a directory or FIFO planted at the blob name of new content is replaced on put', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const first = await runJson(root, ['artifact', 'put', 'a.txt'], { input: 'content\n' });
  const blob = join(root, 'artifacts', 'blobs', first.json.data.sha256);
  renameSync(blob, `${blob}.bak`);
  mkdirSync(blob);
  await cliOk(root, ['artifact', 'put', 'b.txt'], { input: 'content\n' });
  assert.equal((await runCli(root, ['artifact', 'get', 'b.txt'])).stdout, 'content\n');
});

test('variant: the artifacts directory itself replaced by a link: nothing is written or read through it', async (t) => {
  const ws = await makeWorkspace(t);
  const root = ws.paths.root;
  const elsewhere = tempDir(t);
  rmSync(join(root, 'artifacts'), { recursive: true, force: true });
  symlinkSync(elsewhere, join(root, 'artifacts'));
  const put = await runJson(root, ['artifact', 'put', 'z.txt'], { input: 'z\n' });
  assert.equal(put.json.code, 'WORKSPACE_DAMAGED', put.stdout);
  assert.deepEqual(readdirSync(elsewhere), [], 'no blob directory was created through the link');
});
