import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeHits, knownSecrets, SecretScanner, splitDiff } from '../src/core/secret-scan.js';

const KEY = 'AIzaSyD-EXAMPLE_k3y.value+42';
const scanner = new SecretScanner([{ name: 'GEMINI_API_KEY', value: KEY }]);
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const encodings = (text: string) => scanner.scanText(text, 'f').map((h) => h.encoding);

test('finds a secret exact, reversed, base64 (every alignment), base64url, hex and URL-encoded', () => {
  assert.deepEqual(encodings(`const k = "${KEY}";`), ['exact']);
  assert.deepEqual(encodings([...KEY].reverse().join('')), ['reversed']);
  for (const prefix of ['', 'x', 'xy', 'abc', 'abcd', '{"k":"']) {
    assert.ok(encodings(b64(prefix + KEY + '\n')).includes('base64'), `base64 after ${prefix.length} bytes`);
    assert.ok(encodings(b64(prefix + KEY).replace(/\+/g, '-').replace(/\//g, '_')).some((e) => e.startsWith('base64')), `base64url after ${prefix.length} bytes`);
  }
  assert.ok(encodings(b64(Buffer.concat([Buffer.from([0xff]), Buffer.from(KEY)]))).includes('base64'), 'binary 1-byte prefix');
  assert.ok(encodings(b64(Buffer.concat([Buffer.from([0xfe, 0x01]), Buffer.from(KEY)]))).includes('base64'), 'binary 2-byte prefix');
  assert.deepEqual(encodings(Buffer.from(KEY).toString('hex')), ['hex']);
  assert.deepEqual(encodings(Buffer.from(KEY).toString('hex').toUpperCase()), ['hex']);
  assert.deepEqual(encodings(`?key=${encodeURIComponent(KEY)}`), ['url-encoded']);
  assert.deepEqual(encodings(Buffer.from(KEY).toString('hex').replace(/../g, '%$&')), ['url-encoded']);
  // a line-wrapped base64 (as `base64` prints it) is found too
  const wrapped = b64('padding-'.repeat(10) + KEY).replace(/(.{76})/g, '$1\n');
  assert.ok(wrapped.includes('\n'));
  assert.ok(encodings(wrapped).includes('base64'));
});

test('no hit on unrelated text, and a hit never shows the value', () => {
  assert.deepEqual(scanner.scanText('function add(a, b) { return a + b; }\n' + b64('hello world') + 'deadbeef', 'f'), []);
  const hits = scanner.scanText(`${KEY} ${b64(KEY)}`, 'src/leak.txt');
  const sentence = describeHits(hits);
  assert.match(sentence, /GEMINI_API_KEY \(exact\) in src\/leak\.txt/);
  assert.match(sentence, /GEMINI_API_KEY \(base64\)/);
  for (const enc of [KEY, b64(KEY).slice(0, 12)]) assert.equal(sentence.includes(enc), false);
  assert.equal(scanner.redact(`a ${b64('xy' + KEY)} b`).includes(b64('xy' + KEY).slice(4, 20)), false);
});

test('knownSecrets takes secret-named variables (>= 6 chars) and configured values', () => {
  const s = knownSecrets({ GEMINI_API_KEY: KEY, GITHUB_TOKEN: 'ghp_abcdef', SHORT_KEY: 'abc', PATH: '/usr/bin:/bin', HOME: '/root' }, ['configured-value']);
  assert.deepEqual(s.map((x) => x.name), ['GEMINI_API_KEY', 'GITHUB_TOKEN', 'configured secret #1']);
});

test('diffs are scanned file by file, added lines only', () => {
  const patch = [
    'diff --git a/old.txt b/old.txt', '--- a/old.txt', '+++ b/old.txt', '@@ -1 +1 @@', `-${KEY}`, '+clean now',
    'diff --git a/tests/leak.txt b/tests/leak.txt', 'new file mode 100644', '--- /dev/null', '+++ b/tests/leak.txt', '@@ -0,0 +1,2 @@', `+${[...KEY].reverse().join('')}`, `+${b64('x' + KEY)}`, '',
  ].join('\n');
  assert.deepEqual(splitDiff(patch).map((f) => f.path), ['old.txt', 'tests/leak.txt']);
  const hits = scanner.scanDiff(patch);
  assert.deepEqual(hits.map((h) => `${h.encoding}@${h.where}`).sort(), ['base64@tests/leak.txt', 'reversed@tests/leak.txt']);
});
