import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { isOrchestraError } from '../src/core/errors.js';
import { claimTask } from '../src/core/leases.js';
import { createTask } from '../src/core/ops/tasks.js';
import { AUDIT_STREAM, streamOfTask } from '../src/core/paths.js';
import { replayWorkspace } from '../src/core/replay.js';
import { verifyWorkspace } from '../src/core/verify.js';
import { withdrawnDir } from '../src/sync/withdrawn.js';
import { makeClones, type Clone } from './support/sync-clones.js';
import { testActor } from './support/core-workspace.js';

const claimAs = (clone: Clone, taskId: string) =>
  claimTask(clone.ws, taskId, { purpose: 'execute', owner: `executor@${clone.name}`, ttlMs: 60_000, actor: clone.actor });

/** Replay summaries without the timing: what must be equal on every clone. */
async function summary(clone: Clone) {
  const { ms: _ms, ...rest } = await replayWorkspace(clone.ws.paths.root);
  return rest;
}

async function syncAll(clones: Clone[]) {
  for (let pass = 0; pass < 2; pass++) for (const c of clones) await c.sync.round();
}

test('two clones claim the same task: exactly one claim is accepted, the other is withdrawn and its holder gets LEASE_LOST', async (t) => {
  const { clones } = await makeClones(t, 2);
  const [a, b] = clones as [Clone, Clone];
  const { id } = await createTask(a.ws, { title: 'one executor only' }, { actor: testActor });
  await a.sync.round();
  await b.sync.round();
  assert.ok(await b.ws.findTask(id), 'the task reached the other clone');

  // Both claim on their own records: both succeed locally (neither has seen the other).
  const [la, lb] = [await claimAs(a, id), await claimAs(b, id)];
  assert.ok(la && lb);
  assert.equal(la.attempt, 1);
  assert.equal(lb.attempt, 1);

  const outcomes = await Promise.allSettled([a.ws.acceptance.confirm(la), b.ws.acceptance.confirm(lb)]);
  const won = outcomes.filter((o) => o.status === 'fulfilled');
  const lost = outcomes.filter((o) => o.status === 'rejected');
  assert.equal(won.length, 1, 'exactly one claim is confirmed');
  assert.equal(lost.length, 1);
  assert.ok(isOrchestraError((lost[0] as PromiseRejectedResult).reason, 'LEASE_LOST'), String((lost[0] as PromiseRejectedResult).reason));
  const [winner, loser, loserLease] = outcomes[0]!.status === 'fulfilled' ? [a, b, lb] : [b, a, la];

  // The loser's fenced write (its "effect") is refused on the accepted records.
  await assert.rejects(loserLease.append([{ type: 'dev.note', data: { text: 'should not land' } }]), (err) => isOrchestraError(err, 'LEASE_LOST'));
  // Its claim is in the local withdrawn log, never in the shared history.
  assert.equal(readdirSync(withdrawnDir(loser.ws)).length, 1);

  await syncAll(clones);
  for (const c of clones) {
    const view = await c.ws.task(id);
    assert.equal(view.attempts, 1, `${c.name}: one attempt granted`);
    assert.equal(view.lease?.owner, `executor@${winner.name}`, `${c.name}: the winner holds the task`);
    const report = await verifyWorkspace(c.ws);
    assert.equal(report.ok, true, JSON.stringify(report.findings));
  }
  assert.deepEqual(await summary(a), await summary(b));
});

test('audit records appended on both sides converge: renumbered, chained, verify clean, same replay everywhere', async (t) => {
  const { clones } = await makeClones(t, 3);
  const appendAudit = (c: Clone, n: number) =>
    c.ws.appendTo(AUDIT_STREAM, (s) => s, () => ({ actor: c.actor, events: [{ type: 'audit.note', data: { from: c.name, n } }] }));
  for (let n = 0; n < 5; n++) for (const c of clones) await appendAudit(c, n);
  // Every clone wrote audit records 1..5 (plus what init wrote): positions collide on all three.
  await syncAll(clones);
  const states = await Promise.all(clones.map((c) => c.ws.readStream(AUDIT_STREAM)));
  const ids = states.map((s) => s.records.map((r) => r.id));
  assert.deepEqual(ids[1], ids[0]);
  assert.deepEqual(ids[2], ids[0]);
  const notes = states[0]!.records.filter((r) => r.events[0]!.type === 'audit.note');
  assert.equal(notes.length, 15, 'every note kept, none doubled');
  for (const c of clones) {
    for (const name of ['c0', 'c1', 'c2']) {
      const mine = notes.filter((r) => (r.events[0]!.data as { from: string }).from === name).map((r) => (r.events[0]!.data as { n: number }).n);
      assert.deepEqual(mine, [0, 1, 2, 3, 4], `${c.name}: the notes of ${name} keep their order`);
    }
    const state = await c.ws.readStream(AUDIT_STREAM);
    assert.deepEqual(state.chainBreaks, []);
    assert.deepEqual(state.damaged, []);
    const report = await verifyWorkspace(c.ws);
    assert.equal(report.ok, true, JSON.stringify(report.findings));
  }
  const first = await summary(clones[0]!);
  for (const c of clones.slice(1)) assert.deepEqual(await summary(c), first);
});

test('another process of the loser clone drops its cached records when sync renumbers them', async (t) => {
  const { clones, reopen } = await makeClones(t, 2);
  const [a, b] = clones as [Clone, Clone];
  const { id } = await createTask(a.ws, { title: 'cache test' }, { actor: testActor });
  await a.sync.round();
  await b.sync.round();
  const otherProcess = await reopen(b);
  await claimAs(a, id);
  await claimAs(b, id);
  assert.equal((await otherProcess.task(id)).lease?.owner, 'executor@c1', 'the other process cached b’s local claim');
  await a.sync.round();
  await b.sync.round(); // b loses: its claim is withdrawn and the stream rewritten
  const seen = await otherProcess.task(id);
  assert.equal(seen.lease?.owner, 'executor@c0', 'the other process sees the accepted claim, not its stale cache');
  assert.deepEqual((await otherProcess.readStream(streamOfTask(id))).chainBreaks, []);
});

test('another process that decided on records sync then renumbered must decide again (CONFLICT), and its retry lands chained', async (t) => {
  const { clones, reopen } = await makeClones(t, 2);
  const [a, b] = clones as [Clone, Clone];
  const { id } = await createTask(a.ws, { title: 'stale decision' }, { actor: testActor });
  await a.sync.round();
  await b.sync.round();
  const otherProcess = await reopen(b);
  const stream = streamOfTask(id);
  await claimAs(a, id);
  await claimAs(b, id);
  const stale = await otherProcess.readStream(stream); // decided on b's own (later withdrawn) claim
  await a.sync.round();
  await b.sync.round();
  const note = { actor: b.actor, events: [{ type: 'task.commented', data: { text: 'from another process' } }] };
  await assert.rejects(otherProcess.store.append(stream, stale.lastSeq, note), (err) => isOrchestraError(err, 'CONFLICT'));
  const { record } = await otherProcess.appendTo(stream, (s) => s, () => note);
  const state = await b.ws.readStream(stream);
  assert.equal(state.records.at(-1)!.id, record!.id);
  assert.deepEqual(state.chainBreaks, []);
  b.ws.journal.scanAll(); // `up` learns of another process's appends from the signal feed (journal.follow)
  await b.sync.round();
  await a.sync.round();
  assert.deepEqual(await summary(a), await summary(b));
});

test('a clone cut off from the remote keeps working locally, refuses to confirm claims, and converges when the remote is back', async (t) => {
  const { clones, remote } = await makeClones(t, 2);
  const [a, b] = clones as [Clone, Clone];
  const { id } = await createTask(a.ws, { title: 'offline' }, { actor: testActor });
  await a.sync.round();
  await b.sync.round();
  const away = `${remote}.away`;
  renameSync(remote, away);
  let back = false;
  t.after(() => { if (!back) renameSync(away, remote); });

  const lease = await claimAs(a, id);
  assert.ok(lease, 'claiming works on local records');
  await assert.rejects(a.ws.acceptance.confirm(lease), (err) => isOrchestraError(err, 'CLAIM_UNCONFIRMED'));
  await assert.rejects(a.sync.round(), (err) => isOrchestraError(err, 'SYNC_UNREACHABLE'));
  const { id: local } = await createTask(a.ws, { title: 'filed while offline' }, { actor: testActor });
  await lease.release([], 'offline');

  renameSync(away, remote);
  back = true;
  await syncAll(clones);
  assert.equal((await b.ws.task(local)).title, 'filed while offline');
  assert.deepEqual(await summary(a), await summary(b));
});

test('hostile input: bad remote URLs are refused before git runs; a remote holding another workspace is SYNC_DIVERGED', async (t) => {
  const { attachRemote, cloneWorkspace } = await import('../src/sync/clone.js');
  const { clones } = await makeClones(t, 1);
  const a = clones[0]!;
  for (const url of ['--upload-pack=touch /tmp/pwned', 'ext::sh -c touch% /tmp/pwned', 'fd::3', 'no-scheme-relative', `/tmp/x\0y`, 'a'.repeat(3000)]) {
    await assert.rejects(cloneWorkspace(url, join(a.ws.paths.root, '..', 'never')), (err) => isOrchestraError(err, 'INVALID_INPUT'), url.slice(0, 40));
  }
  // Another workspace's remote: no common history (its config differs, so its first commit does too).
  const other = await makeClones(t, 1, { defaultWorkstream: 'dev' });
  const { runGit } = await import('../src/sync/git-run.js');
  await runGit(a.ws.paths.root, ['remote', 'set-url', 'origin', other.remote]);
  await createTask(a.ws, { title: 'not to be mixed' }, { actor: testActor });
  const diverged = await a.sync.round().then((r) => r, (e) => e);
  assert.ok(isOrchestraError(diverged, 'SYNC_DIVERGED'), JSON.stringify(diverged));
  await assert.rejects(attachRemote(a.ws, other.remote + '2'), (err) => isOrchestraError(err, 'CONFLICT'));
});
