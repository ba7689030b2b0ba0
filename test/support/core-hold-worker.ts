/**
 * Lease-holder worker: `node core-hold-worker.js <workspace> <taskId> <ttlMs> <owner>`.
 * Claims the task, prints `{"claimed":true,"attempt":n}` and keeps the lease alive with
 * heartbeats every ttl/3, like a loop at work. On "write" from stdin it tries a fenced
 * `lease.append` and prints `{"write":"ok"}` or `{"write":"error","code":...}`.
 */
import { createInterface } from 'node:readline';
import { describeError } from '../../src/core/errors.js';
import { claimTask } from '../../src/core/leases.js';
import { Workspace } from '../../src/core/workspace.js';

const [root, taskId, ttl, owner] = process.argv.slice(2);
const ttlMs = Number(ttl);
const ws = await Workspace.open(root!);
const actor = { kind: 'loop' as const, name: owner!, pid: process.pid };
const lease = await claimTask(ws, taskId!, { purpose: 'hold', owner: owner!, ttlMs, actor });
process.stdout.write(JSON.stringify(lease ? { claimed: true, attempt: lease.attempt } : { claimed: false }) + '\n');
if (!lease) process.exit(3);
setInterval(() => void lease.renew().catch(() => undefined), Math.floor(ttlMs / 3));
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== 'write') continue;
  try {
    await lease.append([{ type: 'test.late-write', data: { attempt: lease.attempt } }]);
    process.stdout.write(JSON.stringify({ write: 'ok' }) + '\n');
  } catch (err) {
    process.stdout.write(JSON.stringify({ write: 'error', ...describeError(err) }) + '\n');
  }
}
