import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, runJson } from './support/cli-run.js';
import { makeWorkspace } from './support/core-workspace.js';

test('the inbox door checks the repository too: an unknown one is rejected with a reason, a known one is taken', async (t) => {
  const ws = await makeWorkspace(t, { repos: { self: '.' } });
  const root = ws.paths.root;
  writeFileSync(join(ws.paths.inbox, 'typo.md'), '---\ntitle: Fix it\nworkstream: dev\nrepo: slef\n---\nDetails.\n');
  writeFileSync(join(ws.paths.inbox, 'fine.md'), '---\ntitle: Fix it too\nworkstream: dev\nrepo: self\n---\nDetails.\n');
  const up = await runCli(root, ['up', '--once', '--only', 'intake']);
  assert.equal(up.code, 0, up.stderr);
  const rejected = JSON.parse(readFileSync(join(ws.paths.rejected, 'typo.md.error.json'), 'utf8'));
  assert.equal(rejected.code, 'INVALID_INPUT');
  assert.match(rejected.message, /Unknown repository 'slef'.*self/);
  const list = await runJson(root, ['task', 'list', '--workstream', 'dev']);
  assert.deepEqual(list.json.data.map((v: any) => v.title), ['Fix it too']);
  assert.deepEqual(readdirSync(ws.paths.inbox).filter((n) => n !== 'rejected'), []);
});
