import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { isOrchestraError } from '../src/core/errors.js';
import { branchLink } from '../src/vcs/links.js';
import { assertPushAllowed } from '../src/vcs/push.js';
import { taskIdFromMessage, withTaskTrailer } from '../src/vcs/commit.js';
import { isRemoteUrl, mirrorDirName, redactUrl } from '../src/vcs/repo-source.js';
import { taskBranchName } from '../src/vcs/worktree.js';

const B = 'task/01HX-abc.1';

const LINKS: Array<[string, string]> = [
  ['https://github.com/o/r.git', `https://github.com/o/r/tree/${B}`],
  ['https://github.com/o/r', `https://github.com/o/r/tree/${B}`],
  ['git@github.com:o/r.git', `https://github.com/o/r/tree/${B}`],
  ['ssh://git@github.com/o/r.git', `https://github.com/o/r/tree/${B}`],
  ['https://x-access-token:SECRET@github.com/o/r.git', `https://github.com/o/r/tree/${B}`],
  ['https://github.example.com/o/r.git', `https://github.example.com/o/r/tree/${B}`],
  ['https://gitlab.com/g/sub/r.git', `https://gitlab.com/g/sub/r/-/tree/${B}`],
  ['git@gitlab.com:g/sub/r.git', `https://gitlab.com/g/sub/r/-/tree/${B}`],
  ['ssh://git@gitlab.corp.example:2222/g/r.git', `https://gitlab.corp.example/g/r/-/tree/${B}`],
  ['https://gitlab.corp.example:8443/g/r', `https://gitlab.corp.example:8443/g/r/-/tree/${B}`],
  ['http://gitlab.local/g/r.git', `http://gitlab.local/g/r/-/tree/${B}`],
  ['https://bitbucket.org/o/r.git', `https://bitbucket.org/o/r/branch/${B}`],
  ['git@bitbucket.org:o/r.git', `https://bitbucket.org/o/r/branch/${B}`],
  ['ssh://git@bitbucket.org/o/r.git', `https://bitbucket.org/o/r/branch/${B}`],
  ['/srv/git/r.git', `/srv/git/r.git#${B}`],
  ['file:///srv/git/r.git', `/srv/git/r.git#${B}`],
  ['../rel/r.git', `${resolve('../rel/r.git')}#${B}`],
  ['https://git.example.org/o/r.git', `https://git.example.org/o/r.git#${B}`],
  ['https://user:pw@git.example.org/o/r.git', `https://git.example.org/o/r.git#${B}`],
  ['git@git.example.org:o/r.git', `git@git.example.org:o/r.git#${B}`],
];

test('branchLink table', () => {
  for (const [url, want] of LINKS) assert.equal(branchLink(url, B), want, url);
});

test('branchLink encodes odd branch characters in web links', () => {
  assert.equal(branchLink('https://github.com/o/r', 'task/a#b'), 'https://github.com/o/r/tree/task/a%23b');
});

function refused(branch: string, prot: string[] = []): string {
  try {
    assertPushAllowed(branch, prot);
  } catch (err) {
    assert.ok(isOrchestraError(err, 'PUSH_REFUSED'), `expected PUSH_REFUSED for ${branch}`);
    return err.message;
  }
  assert.fail(`expected ${branch} to be refused`);
}

test('assertPushAllowed accepts task branches', () => {
  for (const b of ['task/abc', 'task/01HXYZ', 'task/a.b_c-d', 'refs/heads/task/x1']) assertPushAllowed(b, []);
  assertPushAllowed('task/keep-me', ['release/*', 'task/frozen']);
});

test('assertPushAllowed refuses protected and non-task branches with a reason', () => {
  for (const b of ['main', 'master', 'dev', 'development', 'Main', 'refs/heads/main']) {
    assert.match(refused(b), /always protected/);
  }
  assert.match(refused('task/frozen', ['task/frozen']), /protected branch 'task\/frozen'/);
  assert.match(refused('task/rel-1', ['task/rel-*']), /protected branch/);
  assert.match(refused('feature/x'), /only task branches/);
  for (const b of ['task/', 'task/a/b', 'task/a b', 'task/..x', 'task/x.lock', 'task/-x', 'HEAD', '', 'task/x:refs/heads/main', '+task/x']) {
    refused(b);
  }
});

test('Task-Id trailer helpers', () => {
  const m = withTaskTrailer('Fix the thing\n\nLonger body.\n', 't1');
  assert.equal(m, 'Fix the thing\n\nLonger body.\n\nTask-Id: t1\n');
  assert.equal(taskIdFromMessage(m), 't1');
  assert.equal(withTaskTrailer(m, 't1'), m);
  assert.equal(taskIdFromMessage('Task-Id: t1\n\nbody only'), undefined);
  assert.equal(taskIdFromMessage('subject'), undefined);
});

test('URL helpers and task branch names', () => {
  assert.ok(isRemoteUrl('https://h/o/r.git') && isRemoteUrl('git@h:o/r') && isRemoteUrl('file:///x'));
  assert.ok(!isRemoteUrl('/abs/path') && !isRemoteUrl('./rel') && !isRemoteUrl('name'));
  assert.equal(redactUrl('https://u:tok@h/o/r.git'), 'https://h/o/r.git');
  const a = mirrorDirName('https://u:tok@github.com/o/r.git');
  assert.match(a, /^github\.com-o-r-[0-9a-f]{10}$/);
  assert.notEqual(a, mirrorDirName('https://github.com/o/r.git'));
  assert.equal(taskBranchName('abc-1'), 'task/abc-1');
  for (const bad of ['', '../x', 'a/b', '-x', 'x.lock']) assert.throws(() => taskBranchName(bad), /cannot be used/);
});
