import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loopActor } from '../../src/core/actor.js';
import { newId } from '../../src/core/ids.js';
import { streamOfTask, WorkspacePaths } from '../../src/core/paths.js';
import type { StoredEvent } from '../../src/core/record.js';
import { signalText } from '../../src/core/signals.js';
import { StreamStore } from '../../src/core/stream-store.js';
import { Workspace } from '../../src/core/workspace.js';
import { forEachParallel, inboxTaskJson, makeWorkspace, now, patchConfig, sleep, waitForGitGc, type Section, CLI } from '../harness.js';
import { summarize } from '../stats.js';

/** Tasks in the idle workspace (ORCHESTRA_BENCH_IDLE_TASKS overrides: the generation is the slow part). */
const TASKS = Number(process.env.ORCHESTRA_BENCH_IDLE_TASKS ?? 100_000);
const OPEN_SHARE = 0.05;
const LOOPS = 'intake,triggers,retry,planner,executor,publisher';
const TICKS_PER_SECOND = 100; // USER_HZ of /proc/<pid>/stat on Linux
const MEASURE_MS = 60_000; // spans two runs of the alert evaluator (every 30 s)

/** A finished task is created then moved to completed; an open one stays pending. Signal files as the loops would leave them. */
export async function generateTasks(root: string, count: number, opts: { signals?: boolean; onRecord?: (path: string) => void } = {}): Promise<void> {
  const paths = new WorkspacePaths(root);
  const store = new StreamStore(paths, { fsync: false });
  const actor = loopActor('bench');
  const signals = paths.signals;
  await fs.mkdir(signals, { recursive: true });
  const openEvery = Math.round(1 / OPEN_SHARE);
  const stored = (stream: string, seq: number) => opts.onRecord?.(relative(root, store.recordPath(stream, seq)));
  await forEachParallel(Array.from({ length: count }, () => newId()), 16, async (id, i) => {
    const stream = streamOfTask(id);
    // The store keeps what it wrote; a million streams must not stay in its cache.
    const created: StoredEvent = { type: 'task.created', data: { id, workstream: 'default', title: `Idle task ${i}`, description: 'Generated for the idle bench.', tags: [], fields: {}, state: 'pending' } };
    await store.append(stream, 0, { actor, events: [created] });
    stored(stream, 1);
    let seq = 1;
    if (i % openEvery !== 0) {
      await store.append(stream, 1, { actor, events: [{ type: 'task.moved', data: { from: 'pending', to: 'in_progress' } }, { type: 'task.moved', data: { from: 'in_progress', to: 'completed' } }] });
      stored(stream, 2);
      seq = 2;
    }
    store.forget(stream);
    if (opts.signals !== false) await fs.writeFile(join(signals, id), signalText(seq));
  });
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Peak and current resident memory of a process, in MB. */
function memoryMb(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
}

/** Starts `up`, waits until it has settled (under 5% of a core over 2 s), then runs `measure` on it. */
async function withSettledUp<T>(root: string, measure: (pid: number, settleMs: number) => Promise<T>): Promise<T> {
  const child: ChildProcess = spawn(process.execPath, [CLI, 'up', '--only', LOOPS, '-w', root], { stdio: 'ignore', env: { ...process.env, ORCHESTRA_LOG: 'silent' } });
  try {
    const pid = child.pid!;
    const started = now();
    let last = cpuSeconds(pid);
    for (;;) {
      await sleep(2000);
      const cpu = cpuSeconds(pid);
      if (child.exitCode !== null) throw new Error(`up exited with ${child.exitCode}`);
      if ((cpu - last) / 2 < 0.05 || now() - started > 300_000) break;
      last = cpu;
    }
    return await measure(pid, now() - started - 2000);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
  }
}

/** CPU share and memory of a settled `up` over MEASURE_MS. */
function measureUp(root: string): Promise<{ settleMs: number; cpuShare: number; peakMb: number; rssMb: number }> {
  return withSettledUp(root, async (pid, settleMs) => {
    const before = cpuSeconds(pid);
    await sleep(MEASURE_MS);
    const cpuShare = (cpuSeconds(pid) - before) / (MEASURE_MS / 1000);
    const mem = memoryMb(pid);
    return { settleMs, cpuShare, peakMb: mem.peak, rssMb: mem.now };
  });
}

const REACTION_FILES = 100;
const REACTION_GAP_MS = 50;

/**
 * Reaction of a settled `up` (all loops) over the large workspace: an inbox file lands (renamed
 * into place), and the time until its task's first record file exists is taken. The bench polls
 * for that file every 2 ms: the figure is an upper bound by that much.
 */
function measureReaction(root: string): Promise<number[]> {
  const paths = new WorkspacePaths(root);
  return withSettledUp(root, async () => {
    const waiting = new Map<string, number>();
    const took: number[] = [];
    const poll = setInterval(() => {
      for (const [id, landed] of waiting) {
        if (existsSync(join(paths.streamDir(streamOfTask(id)), '0000000001.json'))) {
          took.push(now() - landed);
          waiting.delete(id);
        }
      }
    }, 2);
    try {
      for (let i = 0; i < REACTION_FILES; i++) {
        const id = newId();
        const temp = join(paths.inbox, `.tmp-${id}`);
        await fs.writeFile(temp, inboxTaskJson(i, id));
        await fs.rename(temp, join(paths.inbox, `react-${i}.json`));
        waiting.set(id, now());
        await sleep(REACTION_GAP_MS);
      }
      const deadline = now() + 60_000;
      while (waiting.size > 0 && now() < deadline) await sleep(20);
      if (waiting.size > 0) throw new Error(`${waiting.size} of ${REACTION_FILES} inbox files were not recorded within 60 s`);
    } finally {
      clearInterval(poll);
    }
    return took;
  });
}

/**
 * The journal's safety-net scan over the large workspace, timed in this process: a deep scan
 * (every directory: the first ever, then daily) and a scan of directories changed since the
 * last (every 10 min). CPU milliseconds, so the idle share it adds can be stated.
 */
async function measureScans(root: string): Promise<{ deepMs: number; recentMs: number }> {
  const ws = await Workspace.open(root);
  await fs.rm(join(ws.paths.runtime, 'journal-scan.json'), { force: true });
  if (!(await ws.journal.acquire())) throw new Error('the committer lock is held: is an up still running?');
  try {
    const cpuOf = async () => {
      const before = process.cpuUsage();
      ws.journal.scanAll();
      await ws.journal.commitPending();
      const used = process.cpuUsage(before);
      return (used.user + used.system) / 1000;
    };
    const deepMs = await cpuOf();
    const recentMs = await cpuOf();
    return { deepMs, recentMs };
  } finally {
    await ws.journal.release();
  }
}

export const idleSection: Section = {
  name: 'idle',
  title: `Idle \`orchestra up\` (${LOOPS}) over ${TASKS.toLocaleString('en')} tasks, ${100 - OPEN_SHARE * 100}% completed: CPU share and memory, first start then a restart`,
  async run(ctx) {
    const root = await ctx.dir('idle');
    await makeWorkspace(root, { fsync: false });
    await patchConfig(root, {});
    const script = join(root, 'ai', 'idle-script.json');
    await fs.mkdir(join(root, 'ai'), { recursive: true });
    await fs.writeFile(script, '[]\n');
    const config = JSON.parse(await fs.readFile(join(root, 'orchestra.json'), 'utf8'));
    config.planner = { provider: 'scripted', model: 'idle', scriptFile: 'ai/idle-script.json' };
    config.executor = { provider: 'scripted', model: 'idle', scriptFile: 'ai/idle-script.json' };
    config.sandbox = { ...(config.sandbox ?? {}), isolation: 'unconfined' }; // no command runs; skips the bwrap probe
    await fs.writeFile(join(root, 'orchestra.json'), JSON.stringify(config, null, 2));
    let started = now();
    await generateTasks(root, TASKS);
    ctx.log(`idle: generated ${TASKS} tasks in ${Math.round(now() - started)} ms; committing them`);
    started = now();
    execFileSync('git', ['-C', root, 'add', '-A'], { stdio: 'ignore' });
    execFileSync('git', ['-C', root, '-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '--no-verify', '-m', 'idle bench records'], { stdio: 'ignore' });
    await waitForGitGc(root, 600_000);
    ctx.log(`idle: committed in ${Math.round(now() - started)} ms; starting up (no index yet)`);
    const first = await measureUp(root);
    ctx.log(`idle: first start settled in ${Math.round(first.settleMs)} ms; restarting (with the settled index)`);
    const second = await measureUp(root);
    await waitForGitGc(root, 600_000);
    ctx.shared.set('idle.root', root);
    ctx.shared.set('idle.tasks', TASKS);
    const n = TASKS.toLocaleString('en');
    ctx.record({ key: 'idle.first.settleMs', label: `first \`up\` over ${n} tasks: start until idle (reads every task once, writes the index)`, value: Math.round(first.settleMs), unit: 'ms' });
    ctx.record({ key: 'idle.first.peakMb', label: 'first `up`: peak RSS', value: Math.round(first.peakMb), unit: 'MB' });
    ctx.record({ key: 'idle.restart.settleMs', label: 'restarted `up`: start until idle (settled tasks skipped by the index)', value: Math.round(second.settleMs), unit: 'ms' });
    ctx.record({ key: 'idle.cpuShare', label: `idle \`up\` over ${n} tasks: CPU, share of one core over ${MEASURE_MS / 1000} s`, value: Math.round(second.cpuShare * 1000) / 10, unit: '%', note: 'target < 2%' });
    ctx.record({ key: 'idle.peakMb', label: 'restarted `up`: peak RSS', value: Math.round(second.peakMb), unit: 'MB', note: 'target < 150 MB' });
    ctx.record({ key: 'idle.rssMb', label: 'restarted `up`: RSS while idle', value: Math.round(second.rssMb), unit: 'MB' });
    const scans = await measureScans(root);
    ctx.record({ key: 'idle.scan.deepMs', label: `journal scan over ${n} tasks, deep (every directory: the first ever, then daily): CPU`, value: Math.round(scans.deepMs), unit: 'ms' });
    ctx.record({ key: 'idle.scan.recentMs', label: 'journal scan, directories changed since the last (every 10 min): CPU', value: Math.round(scans.recentMs), unit: 'ms', note: `${(scans.recentMs / 600_000 * 100).toFixed(2)}% of a core over its 10 min` });
    const reaction = summarize(await measureReaction(root));
    ctx.record({ key: 'idle.reaction.p50', label: `reaction over ${n} tasks, all loops running: inbox file lands -> task recorded, p50 (${REACTION_FILES} files ${REACTION_GAP_MS} ms apart)`, value: Math.round(reaction.p50), unit: 'ms' });
    ctx.record({ key: 'idle.reaction.p99', label: `reaction over ${n} tasks: p99`, value: Math.round(reaction.p99), unit: 'ms', note: `target < 100 ms; max ${Math.round(reaction.max)}` });
  },
};
