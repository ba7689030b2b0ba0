/** The executor's file tools on a hostile worktree: links, FIFOs, hard links and huge files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { worktreeTools } from '../src/pipeline/tools/worktree-tools.js';
import { sh } from './support/git-fixtures.js';

function setup(t: { after: (fn: () => void) => void }) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'orchestra-tools-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'wt');
  const outside = join(dir, 'outside');
  mkdirSync(join(root, 'src'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, 'src', 'a.js'), 'export const a = 1;\n');
  writeFileSync(join(outside, 'secret.txt'), 'outside secret\n');
  sh(root, 'init', '-q');
  const tools = worktreeTools(root);
  const call = (name: string, args: Record<string, unknown>) => tools.run({ id: 'c', name, args });
  return { dir, root, outside, tools, call };
}

test('write_file does not follow a dangling link out of the worktree (gcfg -> $HOME/.gitconfig)', async (t) => {
  const { root, outside, call } = setup(t);
  const target = join(outside, 'gitconfig'); // does not exist yet: the link dangles
  symlinkSync(target, join(root, 'gcfg'));
  const r = await call('write_file', { path: 'gcfg', content: '[core]\n\tfsmonitor = touch /tmp/pwned\n' });
  assert.equal(r.isError, true);
  assert.match(r.output, /refused: "gcfg" is a symbolic link/);
  assert.equal(existsSync(target), false);

  // Variant: the link is a directory component, dangling or not.
  symlinkSync(join(outside, 'newdir'), join(root, 'deep'));
  symlinkSync(outside, join(root, 'out'));
  for (const path of ['deep/x/y.txt', 'out/planted.txt', 'src/../out/planted.txt']) {
    const w = await call('write_file', { path, content: 'x' });
    assert.equal(w.isError, true, path);
    assert.match(w.output, /symbolic link/, path);
  }
  assert.equal(existsSync(join(outside, 'newdir')), false);
  assert.equal(existsSync(join(outside, 'planted.txt')), false);
});

test('reads and edits through links, of FIFOs and of hard-linked files are refused; nothing outside changes', async (t) => {
  const { root, outside, call } = setup(t);
  symlinkSync(join(outside, 'secret.txt'), join(root, 'link.txt'));
  symlinkSync(outside, join(root, 'out'));
  for (const [name, args] of [
    ['read_file', { path: 'link.txt' }],
    ['read_file', { path: 'out/secret.txt' }],
    ['replace_in_file', { path: 'link.txt', old_text: 'outside', new_text: 'inside' }],
    ['list_files', { path: 'out' }],
    ['search', { pattern: 'secret', path: 'out' }],
  ] as const) {
    const r = await call(name, args);
    assert.equal(r.isError, true, `${name} ${JSON.stringify(args)}`);
    assert.doesNotMatch(r.output, /outside secret/);
  }
  assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'outside secret\n');

  // A FIFO planted by a test never blocks the tool.
  execFileSync('mkfifo', [join(root, 'pipe')]);
  const fifo = await call('read_file', { path: 'pipe' });
  assert.equal(fifo.isError, true);
  assert.match(fifo.output, /not a regular file/);
  assert.equal((await call('write_file', { path: 'pipe', content: 'x' })).isError, true);

  // A hard link to an outside inode (made where the sandbox is absent) is never written through.
  linkSync(join(outside, 'secret.txt'), join(root, 'hard.txt'));
  const hard = await call('write_file', { path: 'hard.txt', content: 'overwritten' });
  assert.equal(hard.isError, true);
  assert.match(hard.output, /hard links/);
  assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'outside secret\n');
});

test('ordinary work still works: nested new files, edits, a huge file read in part', async (t) => {
  const { root, call } = setup(t);
  const w = await call('write_file', { path: 'test/unit/new.test.js', content: 'ok\n' });
  assert.equal(w.isError, false, w.output);
  assert.equal(readFileSync(join(root, 'test/unit/new.test.js'), 'utf8'), 'ok\n');
  const r = await call('replace_in_file', { path: 'src/a.js', old_text: '= 1', new_text: '= 2' });
  assert.equal(r.isError, false, r.output);
  assert.equal(readFileSync(join(root, 'src/a.js'), 'utf8'), 'export const a = 2;\n');
  const listed = await call('list_files', {});
  assert.match(listed.output, /src\/a\.js/);
  // A sparse 4 GiB file: read_file returns a bounded piece instead of loading it.
  writeFileSync(join(root, 'big.bin'), '');
  truncateSync(join(root, 'big.bin'), 4 * 1024 ** 3);
  const big = await call('read_file', { path: 'big.bin' });
  assert.equal(big.isError, false);
  assert.ok(big.output.length < 100_000);
  assert.match(big.output, /more characters not shown|more bytes not shown/);
});
