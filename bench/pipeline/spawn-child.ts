/**
 * Child of the spawn section: grows to about `mb` MB of live heap (a long-running `up` over a big
 * workspace), then runs `git --version` RUNS times directly and RUNS times through the spawn
 * server, and prints what each way cost this process's event loop (JSON on stdout).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runDirect, type RunRequest, type RunResult } from '../../src/core/run-whole.js';
import { runBuffered, useSpawnServer } from '../../src/exec/spawner.js';

const RUNS = 30;
const mb = Number(process.argv[2] ?? 300);
const ballast: Float64Array[] = [];
for (let i = 0; i < mb; i++) ballast.push(new Float64Array(131_072).fill(i + 0.5)); // 1 MB each, touched

const req: RunRequest = { file: 'git', args: ['--version'], cwd: '/', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 30_000, maxBuffer: 1 << 20 };

async function measure(run: (r: RunRequest) => Promise<RunResult>) {
  await run(req); // warm-up (starts the server)
  const blocked: number[] = [];
  const trips: number[] = [];
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const answer = run(req);
    blocked.push(performance.now() - t);
    const r = await answer;
    trips.push(performance.now() - t);
    if (r.exitCode !== 0) throw new Error(`git --version failed: ${r.error ?? r.stderr.toString()}`);
  }
  delay.disable();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { blockedMs: median(blocked), roundTripMs: median(trips), loopDelayP99Ms: delay.percentile(99) / 1e6 };
}

const direct = await measure(runDirect);
useSpawnServer(true);
const served = await measure(runBuffered);
useSpawnServer(false);
process.stdout.write(JSON.stringify({ rssMb: Math.round(process.memoryUsage().rss / 1e6), direct, served, kept: ballast.length }));
