/**
 * A race in git itself: `git worktree add` first writes an all-zero HEAD into the mirror's
 * `worktrees/<name>/`, and a fetch into the mirror at that moment fails ("bad object", or "failed
 * to read" before the file exists). With two or four tasks in flight it failed a task about one
 * bench run in five; the fetch is now tried again a moment later.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureMirror } from '../src/vcs/repo-source.js';
import { makeFixture, sh } from './support/git-fixtures.js';

test('a mirror fetch that meets a worktree being added (its placeholder HEAD) is tried again; a lasting one still fails', async (t) => {
  const fx = makeFixture();
  t.after(fx.cleanup);
  const cache = fx.cache;
  const mirror = await ensureMirror(fx.repo, cache);
  // What `git worktree add` leaves for a moment: a worktree entry whose HEAD is all zeros.
  const entry = join(mirror, 'worktrees', 'being-added');
  mkdirSync(entry, { recursive: true });
  writeFileSync(join(entry, 'HEAD'), `${'0'.repeat(40)}\n`);
  writeFileSync(join(entry, 'gitdir'), join(fx.root, 'wt', '.git') + '\n');
  writeFileSync(join(entry, 'commondir'), '../..\n');
  sh(fx.repo, 'commit', '-q', '--allow-empty', '-m', 'next');

  // The add finishes (its real HEAD lands) while the fetch waits: the fetch succeeds.
  const finished = new Promise<void>((resolve) => setTimeout(() => {
    writeFileSync(join(entry, 'HEAD'), `${sh(fx.repo, 'rev-parse', 'HEAD')}\n`);
    resolve();
  }, 150)); // after the first attempt has met the placeholder, before the retries run out
  await ensureMirror(fx.repo, cache);
  await finished;
  assert.equal(sh(mirror, 'rev-parse', 'refs/remotes/origin/main'), sh(fx.repo, 'rev-parse', 'HEAD'));

  // One that never finishes: the fetch fails with git's own reason, after its few retries.
  writeFileSync(join(entry, 'HEAD'), `${'0'.repeat(40)}\n`);
  await assert.rejects(ensureMirror(fx.repo, cache), /bad object worktrees\/being-added\/HEAD/);
});
