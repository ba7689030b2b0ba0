import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGit } from '../src/core/git-run.js';

test('workspace git runner: output and exit code as git gives them; a git that cannot start is exit 127 with the reason, never a throw', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orchestra-git-run-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal((await runGit(['init', '-q', '-b', 'main'], { cwd: dir })).code, 0);
  const hashed = await runGit(['hash-object', '--stdin'], { cwd: dir, input: 'hello\n' });
  assert.deepEqual([hashed.code, hashed.stdout], [0, 'ce013625030ba8dba906f756967f9e9ca394464a\n'], 'stdin fed, stdout whole');
  const failed = await runGit(['rev-parse', '--verify', 'no-such-ref'], { cwd: dir });
  assert.notEqual(failed.code, 0);
  assert.match(failed.stderr, /no-such-ref|Needed a single revision/);
  const missing = await runGit(['status'], { cwd: join(dir, 'not-there') });
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /cannot run git/);
  const noGit = await runGit(['status'], { cwd: dir, env: { PATH: '/nonexistent' } });
  assert.equal(noGit.code, 127, 'git not on PATH');
});
