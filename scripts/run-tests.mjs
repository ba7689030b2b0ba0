#!/usr/bin/env node
// Runs the compiled test files with node's test runner.
// Usage: node scripts/run-tests.mjs [unit|int|e2e ...] [--grep substring]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const grepAt = args.indexOf('--grep');
const grep = grepAt >= 0 ? args.splice(grepAt, 2)[1] : undefined;
const tiers = args.length ? args : ['unit', 'int', 'e2e'];

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}
const files = walk('dist/test')
  .filter((f) => tiers.some((t) => f.endsWith(`.${t}.test.js`)))
  .filter((f) => !grep || f.includes(grep))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// ORCHESTRA_TEST_TIMEOUT_SCALE (default 1) stretches every wait of the test helpers and this timeout.
const rawScale = Number(process.env.ORCHESTRA_TEST_TIMEOUT_SCALE ?? 1);
const scale = Number.isFinite(rawScale) && rawScale > 0 ? rawScale : 1;
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', `--test-timeout=${Math.round(300_000 * scale)}`, ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
