/**
 * Claim-race worker: `node core-claim-worker.js <workspace> <owner> [fwd|rev]`.
 * Opens the workspace, prints "ready", waits for "go" on stdin (so all workers start together),
 * calls claimTask on every task id and prints `{"owner":...,"won":[ids]}`.
 */
import { createInterface } from 'node:readline';
import { claimTask } from '../../src/core/leases.js';
import { Workspace } from '../../src/core/workspace.js';

const [root, owner, order = 'fwd'] = process.argv.slice(2);
const ws = await Workspace.open(root!);
const ids = await ws.taskIds();
if (order === 'rev') ids.reverse();
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line.trim() === 'go') break;
lines.close();
const actor = { kind: 'loop' as const, name: owner!, pid: process.pid };
const won: string[] = [];
for (const id of ids) {
  const lease = await claimTask(ws, id, { purpose: 'race', owner: owner!, ttlMs: 600_000, actor });
  if (lease) won.push(id);
}
process.stdout.write(JSON.stringify({ owner, won }) + '\n');
