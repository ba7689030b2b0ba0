import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'check-layers.mjs');
const check = (src: string) => spawnSync(process.execPath, [SCRIPT, src], { encoding: 'utf8' });

test('src/ keeps the dependency arrows of implementation_guidance.md and has no import cycle', () => {
  const r = check(join(ROOT, 'src'));
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /layers: ok/);
});

test('the checker finds an upward import and a cycle', (t) => {
  const src = mkdtempSync(join(tmpdir(), 'orchestra-layers-'));
  t.after(() => rmSync(src, { recursive: true, force: true }));
  mkdirSync(join(src, 'core'));
  mkdirSync(join(src, 'loops'));
  writeFileSync(join(src, 'core', 'a.ts'), "import { b } from './b.js';\nimport { l } from '../loops/l.js';\nexport const a = b + l;\n");
  writeFileSync(join(src, 'core', 'b.ts'), "import { a } from './a.js';\nexport const b = 1;\nexport const c = () => a;\n");
  writeFileSync(join(src, 'loops', 'l.ts'), "import type { a } from '../core/a.js';\nexport const l = 2;\n");
  const r = check(src);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /core\/a\.ts imports loops\/l\.ts: core may not depend on loops/);
  assert.match(r.stdout, /import cycle: core\/a\.ts -> core\/b\.ts -> core\/a\.ts/);
  assert.doesNotMatch(r.stdout, /loops\/l\.ts imports/, 'a type-only import of a lower layer is fine');
});
