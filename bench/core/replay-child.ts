/**
 * Runs in a fresh node process so RSS and caches start from zero:
 *   node dist/bench/core/replay-child.js replay|floor-async|floor-parallel|floor-sync|baseline <workspace>
 * Prints one JSON line: { ms, maxRssKb, ... }. Module loading is not counted in `ms`.
 */
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { replayWorkspace } from '../../src/core/replay.js';
import { isTaskShard } from '../../src/core/paths.js';

const [mode, root] = process.argv.slice(2);
if (!mode || !root) throw new Error('usage: replay-child.js <mode> <workspace>');

/**
 * Every stream's events directory: workstreams/<name>/events and the tasks' (sharded as
 * tasks/<xx>/<id>/events; a flat tasks/<id> of an older workspace also counts). Listed before the
 * clock starts matters little: it is a few hundred directory reads.
 */
function eventDirs(): string[] {
  const dirs: string[] = [];
  for (const name of readdirSync(join(root!, 'workstreams'))) dirs.push(join(root!, 'workstreams', name, 'events'));
  for (const name of readdirSync(join(root!, 'tasks'))) {
    const top = join(root!, 'tasks', name);
    if (isTaskShard(name)) for (const id of readdirSync(top)) dirs.push(join(top, id, 'events'));
    else dirs.push(join(top, 'events'));
  }
  return dirs;
}

/** Reads and JSON.parses every record file, one await at a time (the same I/O pattern as replay), no validation or folding. */
async function floorAsync(): Promise<Record<string, number>> {
  let files = 0;
  let events = 0;
  for (const dir of eventDirs()) {
    for (const name of (await fs.readdir(dir)).sort()) {
      const record = JSON.parse(await fs.readFile(join(dir, name), 'utf8')) as { events: unknown[] };
      files++;
      events += record.events.length;
    }
  }
  return { files, events };
}

/** The same with synchronous calls: no thread-pool round trips. */
function floorSync(): Record<string, number> {
  let files = 0;
  let events = 0;
  for (const dir of eventDirs()) {
    for (const name of readdirSync(dir).sort()) {
      const record = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { events: unknown[] };
      files++;
      events += record.events.length;
    }
  }
  return { files, events };
}

/** Read + parse with 16 streams in flight, each stream's files read together: what the same files cost when reads do not wait on each other. */
async function floorParallel(): Promise<Record<string, number>> {
  const dirs = eventDirs();
  let files = 0;
  let events = 0;
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < dirs.length) {
      const dir = dirs[next++]!;
      const names = (await fs.readdir(dir)).sort();
      for (const text of await Promise.all(names.map((name) => fs.readFile(join(dir, name), 'utf8')))) {
        files++;
        events += (JSON.parse(text) as { events: unknown[] }).events.length;
      }
    }
  }));
  return { files, events };
}

const started = performance.now();
let result: Record<string, unknown>;
if (mode === 'replay') {
  const summary = await replayWorkspace(root);
  result = { records: summary.records, events: summary.events, tasks: summary.tasks, damaged: summary.damaged, byState: summary.byState };
} else if (mode === 'floor-async') result = await floorAsync();
else if (mode === 'floor-sync') result = floorSync();
else if (mode === 'floor-parallel') result = await floorParallel();
else if (mode === 'baseline') result = {};
else throw new Error(`unknown mode ${mode}`);
const ms = performance.now() - started;
process.stdout.write(JSON.stringify({ mode, ms, maxRssKb: process.resourceUsage().maxRSS, ...result }) + '\n');
