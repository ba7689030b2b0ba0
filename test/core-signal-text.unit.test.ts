import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSignalText, signalText } from '../src/core/signals.js';

test('signal files: the seq reads back; a torn mix of two writes, a planted or empty text is no signal; the older one-number text still reads', () => {
  for (const seq of [1, 9, 10, 12345, 2 ** 40]) assert.equal(parseSignalText(signalText(seq)), seq);
  assert.equal(signalText(7).length, signalText(123456789).length, 'every text has the same length: an in-place rewrite covers the last one');
  // A reader that caught a rewrite of 19 by 20 half-way: digits of both, in either copy.
  const [old, next] = [signalText(19), signalText(20)];
  for (let cut = 1; cut < next.length; cut++) {
    const seen = parseSignalText(next.slice(0, cut) + old.slice(cut));
    assert.ok(seen === undefined || seen === 19 || seen === 20, `cut at ${cut} read as ${seen}`);
  }
  for (const bad of ['', '0', '-3', 'abc', '12 13\n', '0000000000000012 0000000000000021\n', '1e3', ' 12']) assert.equal(parseSignalText(bad), undefined, JSON.stringify(bad));
  assert.equal(parseSignalText('12'), 12, 'the format of earlier versions');
});
