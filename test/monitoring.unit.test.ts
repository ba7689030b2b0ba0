import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlertIncidents } from '../src/core/model/alerts.js';
import type { StreamRecord } from '../src/core/record.js';
import { refusalOf } from '../src/pipeline/monitoring/refusals.js';
import { parsePrometheusText } from './support/prom-text.js';

let seq = 0;
const record = (type: string, data: Record<string, unknown>): StreamRecord =>
  ({ v: 1, stream: 'audit', seq: ++seq, id: `r${seq}`, at: new Date(1_700_000_000_000 + seq * 1000).toISOString(), actor: { kind: 'loop', name: 'monitor' }, events: [{ type, data }], sum: '' }) as StreamRecord;
const alert = (type: 'alert.fired' | 'alert.resolved', key: string, message = 'm') => record(type, { key, rule: key.split(':')[0], subject: key.split(':')[1], message });

test('refusals are classified from the records that exist; new codes pass, hostile ones do not', () => {
  assert.deepEqual(refusalOf({ type: 'inbox.rejected', data: { file: 'a.md', code: 'RATE_LIMITED', message: 'slow down' } }), { source: 'inbox', reason: 'RATE_LIMITED', summary: 'a.md: slow down' });
  assert.equal(refusalOf({ type: 'access.refused', data: { what: 'web request' } })?.reason, 'UNAUTHORIZED');
  assert.equal(refusalOf({ type: 'tool.refused', data: { name: 'run', reason: 'no' } })?.reason, 'TOOL_REFUSED');
  assert.equal(refusalOf({ type: 'tool.refused', data: { name: 'run', code: 'COMMAND_NOT_ALLOWED' } })?.reason, 'COMMAND_NOT_ALLOWED', 'a code added later counts by itself');
  assert.deepEqual(refusalOf({ type: 'command.refused', data: {} }), { source: 'command', reason: 'REFUSED', summary: '' });
  for (const code of ['x"} 1\n# evil', 'lower', 'A'.repeat(100), 42, { a: 1 }]) {
    assert.equal(refusalOf({ type: 'inbox.rejected', data: { code } })?.reason, 'OTHER', `label stays bounded: ${String(code)}`);
  }
  assert.equal(refusalOf({ type: 'Evil Source.refused', data: {} })?.source, 'other');
  assert.equal(refusalOf({ type: 'inbox.skipped', data: { code: 'X' } }), undefined);
  assert.equal(refusalOf({ type: 'task.moved', data: {} }), undefined);
  assert.ok(refusalOf({ type: 'access.refused', data: { what: 'x'.repeat(10_000) + '\u001b[2J' } })!.summary.length <= 200);
});

test('alert incidents: fired once per key until resolved, folded incrementally, malformed events ignored', () => {
  const records = [
    alert('alert.fired', 'stuckTask:A'),
    alert('alert.fired', 'stuckTask:A', 'again'),
    record('alert.fired', { key: 'x', rule: 7 }),
    alert('alert.resolved', 'stuckTask:B'),
    alert('alert.fired', 'spendRate:all'),
  ];
  const incidents = new AlertIncidents().apply(records);
  assert.deepEqual([...incidents.open.keys()], ['stuckTask:A', 'spendRate:all']);
  assert.equal(incidents.open.get('stuckTask:A')!.message, 'm', 'a second fire of an open key changes nothing');
  const more = [...records, alert('alert.resolved', 'stuckTask:A', 'ok now'), alert('alert.fired', 'stuckTask:A', 'stuck again')];
  incidents.apply(more);
  incidents.apply(more);
  assert.deepEqual(incidents.resolved.map((i) => [i.key, i.resolution]), [['stuckTask:A', 'ok now']], 'records already folded are not folded twice');
  assert.equal(incidents.open.get('stuckTask:A')!.message, 'stuck again', 'a resolved key can fire again: a new incident');
  assert.deepEqual(new AlertIncidents().apply(more).open.get('stuckTask:A'), incidents.open.get('stuckTask:A'), 'the same records, the same incidents');
});

test('the test parser of the exposition format refuses what it cannot read', () => {
  const e = parsePrometheusText('# HELP a_total x\n# TYPE a_total counter\na_total{r="x\\"y",s="1"} 3\nb NaN\nc +Inf 1700000000\n');
  assert.deepEqual(e.samples.map((s) => [s.name, s.labels, s.value]), [['a_total', { r: 'x"y', s: '1' }, 3], ['b', {}, NaN], ['c', {}, Infinity]]);
  for (const bad of ['a{r=x} 1', 'a 1 2 3', '# WHAT a b', 'a{r="x"', 'a one']) assert.throws(() => parsePrometheusText(bad), /bad/, bad);
});
