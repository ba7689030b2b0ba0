/**
 * The installed command (bin/orchestra.cjs) runs the CLI bundle through V8's code cache. The cache
 * is an accelerator only: whatever state it is in, the command must behave the same. Each test
 * runs a private copy of the package (bin + bundle + package.json, node_modules linked), so the
 * cache the rest of the suite uses is never touched.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from './support/cli-run.js';
import { makeWorkspace, tempDir } from './support/core-workspace.js';

const PACKAGE = join(CLI, '..', '..');

/** A copy of the installed package with its own (empty) cache and a version of its own. */
function packageCopy(t: Parameters<typeof tempDir>[0]): { bin: string; bundleDir: string } {
  const root = join(tempDir(t, 'orchestra-launcher-'), 'pkg');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'dist', 'bundle'), { recursive: true });
  copyFileSync(CLI, join(root, 'bin', 'orchestra.cjs'));
  copyFileSync(join(PACKAGE, 'dist', 'bundle', 'orchestra.cjs'), join(root, 'dist', 'bundle', 'orchestra.cjs'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'orchestra', version: '9.9.9-launcher-test' }));
  symlinkSync(join(PACKAGE, 'node_modules'), join(root, 'node_modules'));
  return { bin: join(root, 'bin', 'orchestra.cjs'), bundleDir: join(root, 'dist', 'bundle') };
}

const cacheFiles = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.v8cache'));

function run(bin: string, args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ORCHESTRA_LOG: 'silent' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

test('the first run writes a code cache, later runs keep it, and the version comes from the package it runs in', (t) => {
  const { bin, bundleDir } = packageCopy(t);
  assert.deepEqual(cacheFiles(bundleDir), []);
  const first = run(bin, ['--version']);
  assert.deepEqual([first.code, first.stdout], [0, '9.9.9-launcher-test'], first.stderr);
  const [cache] = cacheFiles(bundleDir);
  assert.ok(cache?.includes(process.version), `one cache named for this Node (${cacheFiles(bundleDir).join(', ')})`);
  const written = statSync(join(bundleDir, cache!)).mtimeMs;
  assert.deepEqual(run(bin, ['--json', '--version']).stdout, JSON.stringify({ status: 'ok', data: { version: '9.9.9-launcher-test' } }));
  assert.equal(statSync(join(bundleDir, cache!)).mtimeMs, written, 'an accepted cache is not rewritten');
  assert.deepEqual(readdirSync(bundleDir).filter((n) => n.endsWith('.tmp')), [], 'no temp file left');
});

test('a corrupt, truncated or damaged code cache changes nothing the user sees, and is replaced', async (t) => {
  const { bin, bundleDir } = packageCopy(t);
  const ws = await makeWorkspace(t);
  assert.equal(run(bin, ['--version']).code, 0);
  const [cache] = cacheFiles(bundleDir);
  const cachePath = join(bundleDir, cache!);
  const good = readFileSync(cachePath);
  // Header and V8's own header intact, the body zeroed or flipped: V8 would accept it and crash.
  const zeroedBody = Buffer.concat([good.subarray(0, good.length >> 1), Buffer.alloc(good.length - (good.length >> 1))]);
  const flipped = Buffer.from(good);
  for (let i = 400; i < flipped.length; i += 997) flipped[i]! ^= 0xff;
  for (const bad of [Buffer.from('not a V8 code cache'), good.subarray(0, good.length >> 1), Buffer.alloc(0), zeroedBody, flipped]) {
    writeFileSync(cachePath, bad);
    const created = run(bin, ['-w', ws.paths.root, '--json', 'task', 'new', 'through a bad cache', '--workstream', 'default']);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(JSON.parse(created.stdout).status, 'ok');
    assert.notDeepEqual(readFileSync(cachePath), bad, 'the bad cache was replaced');
  }
  const listed = JSON.parse(run(bin, ['-w', ws.paths.root, '--json', 'task', 'list']).stdout);
  assert.equal(listed.data.filter((task: { title: string }) => task.title === 'through a bad cache').length, 5);
});

test('a rebuilt bundle is never run with the cache of the old one, even one of the same length', (t) => {
  const { bin, bundleDir } = packageCopy(t);
  const bundle = join(bundleDir, 'orchestra.cjs');
  assert.equal(run(bin, ['--json', '--version']).stdout, JSON.stringify({ status: 'ok', data: { version: '9.9.9-launcher-test' } }));
  // The same length, other behaviour: V8's own check (the source's length) would take the old code.
  const source = readFileSync(bundle, 'utf8');
  const edited = source.replace('JSON.stringify({ status: "ok", data: { version', 'JSON.stringify({ status: "OK", data: { version');
  assert.notEqual(edited, source, 'the probe found the line it edits');
  assert.equal(edited.length, source.length);
  writeFileSync(bundle, edited);
  assert.equal(run(bin, ['--json', '--version']).stdout, JSON.stringify({ status: 'OK', data: { version: '9.9.9-launcher-test' } }));
  assert.equal(run(bin, ['--json', '--version']).stdout, JSON.stringify({ status: 'OK', data: { version: '9.9.9-launcher-test' } }), 'and with the cache it made');
});

test('a read-only install runs without a cache; a missing bundle is a one-line error', (t) => {
  const { bin, bundleDir } = packageCopy(t);
  const script = `mount --bind -o ro ${JSON.stringify(bundleDir)} ${JSON.stringify(bundleDir)} && ${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} --version`;
  let out: string | undefined;
  try {
    out = execFileSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (err: any) {
    if (err.code === 'ENOENT' || /unshare failed|Operation not permitted/.test(String(err.stderr))) out = undefined;
    else throw new Error(`read-only run failed: ${err.stdout}${err.stderr}`);
  }
  if (out !== undefined) {
    assert.equal(out.trim(), '9.9.9-launcher-test');
    assert.deepEqual(cacheFiles(bundleDir), [], 'nothing could be written, and nothing was');
  }

  const bundle = join(bundleDir, 'orchestra.cjs');
  rmSync(bundle);
  const missing = run(bin, ['task', 'list']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^orchestra: the CLI bundle .*orchestra\.cjs is missing; run `npm run build` first$/);
  if (out === undefined) t.skip('unshare -m is not available here: the read-only half did not run');
});
