import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { round } from '../stats.js';
import type { Section } from '../harness.js';

const CHILD = fileURLToPath(new URL('./spawn-child.js', import.meta.url));
const SIZES_MB = [50, 300, 600];

interface Way { blockedMs: number; roundTripMs: number; loopDelayP99Ms: number }

function child(mb: number): Promise<{ rssMb: number; direct: Way; served: Way }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CHILD, String(mb)], { maxBuffer: 1 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`spawn child failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as { rssMb: number; direct: Way; served: Way });
    });
  });
}

/**
 * What one spawn costs the event loop of the process that asks for it, at several sizes of that
 * process: forked by it (libuv forks: the page tables are copied), or by the spawn server.
 */
export const spawnSection: Section = {
  name: 'spawn',
  title: 'A spawn (`git --version`, 30 runs) from a process of 50, 300 and 600 MB: event loop blocked per spawn, directly and through the spawn server',
  async run(ctx) {
    for (const mb of SIZES_MB) {
      const r = await child(mb);
      ctx.log(`spawn at ${r.rssMb} MB: direct blocks ${round(r.direct.blockedMs)} ms, through the server ${round(r.served.blockedMs)} ms`);
      ctx.record({ key: `spawn.direct.blockedMs.${mb}`, label: `event loop blocked per spawn, forked by a ${r.rssMb} MB process (median)`, value: r.direct.blockedMs, unit: 'ms', note: `round trip ${round(r.direct.roundTripMs)} ms; loop delay p99 ${round(r.direct.loopDelayP99Ms)} ms` });
      ctx.record({ key: `spawn.server.blockedMs.${mb}`, label: `the same through the spawn server (median)`, value: r.served.blockedMs, unit: 'ms', note: `round trip ${round(r.served.roundTripMs)} ms; loop delay p99 ${round(r.served.loopDelayP99Ms)} ms` });
    }
  },
};
