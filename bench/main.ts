/**
 * `npm run bench`: measured figures, no pass/fail. Progress on stderr, a Markdown table on
 * stdout, the figures as JSON in bench/results.json.
 *
 *   node dist/bench/main.js [section ...]   run only the named sections (opt-in ones, e.g. `huge`, only so)
 *   BENCH_KEEP=1                            keep the temp workspaces (path printed)
 *
 * To add a section: write a module exporting a `Section` (see bench/harness.ts), import it here
 * and add it to SECTIONS.
 */
import { promises as fs } from 'node:fs';
import { loadavg as osLoadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigSchema } from '../src/core/config.js';
import { makeTempRoot, type BenchContext, type Figure, type Section } from './harness.js';
import { machine, markdown } from './report.js';
import { intakeSection } from './core/intake.js';
import { appendSection } from './core/append.js';
import { reactionSection } from './core/reaction.js';
import { replaySection } from './core/replay.js';
import { floorSection } from './core/floor.js';
import { scanSection } from './core/scan.js';
import { idleSection } from './core/idle.js';
import { writesSection } from './core/writes.js';
import { ratelimitSection } from './core/ratelimit.js';
import { pipelineSection } from './pipeline/pipeline.js';
import { setupSection } from './pipeline/setup.js';
import { spawnSection } from './pipeline/spawn.js';
import { cachingSection } from './pipeline/caching.js';
import { contextSection } from './context/context.js';
import { syncSection } from './sync/sync.js';
import { hugeSection } from './core/huge.js';

/** Run in this order; `floor` comes after the sections whose figures it divides. */
const SECTIONS: Section[] = [
  intakeSection,
  appendSection,
  reactionSection,
  replaySection,
  scanSection,
  idleSection,
  writesSection,
  ratelimitSection,
  floorSection,
  pipelineSection,
  setupSection,
  spawnSection,
  cachingSection,
  contextSection,
  syncSection,
  hugeSection,
];

const RESULTS = fileURLToPath(new URL('../../bench/results.json', import.meta.url));

async function main(): Promise<void> {
  process.env.ORCHESTRA_LOG ??= 'silent';
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !SECTIONS.some((s) => s.name === w));
  if (unknown.length) throw new Error(`unknown section(s) ${unknown.join(', ')}; sections: ${SECTIONS.map((s) => s.name).join(', ')}`);
  const sections = wanted.length ? SECTIONS.filter((s) => wanted.includes(s.name)) : SECTIONS.filter((s) => !s.optIn);

  const tempRoot = await makeTempRoot();
  const figures: Figure[] = [];
  const errors: Array<{ section: string; message: string }> = [];
  const benchStarted = performance.now();
  const log = (message: string) => process.stderr.write(`[bench ${((performance.now() - benchStarted) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);
  let dirs = 0;
  const shared = new Map<string, unknown>();
  log(`temp root ${tempRoot}; sections: ${sections.map((s) => s.name).join(', ')}`);

  const load: Record<string, string> = { start: loadavg() };
  for (const section of sections) {
    const ctx: BenchContext = {
      dir: async (name) => {
        const dir = join(tempRoot, `${String(++dirs).padStart(2, '0')}-${name}`);
        await fs.mkdir(dir, { recursive: true });
        return dir;
      },
      log,
      record: (f) => figures.push({ ...f, section: section.name }),
      figure: (key) => figures.find((f) => f.key === key),
      shared,
    };
    const started = performance.now();
    load[section.name] = loadavg();
    log(`== ${section.name}: ${section.title} (load average ${load[section.name]})`);
    try {
      await section.run(ctx);
    } catch (err) {
      const message = err instanceof Error ? err.stack ?? err.message : String(err);
      errors.push({ section: section.name, message });
      log(`!! ${section.name} failed: ${message}`);
    }
    log(`== ${section.name} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  load.end = loadavg();

  const defaults = ConfigSchema.parse({});
  const meta = {
    date: new Date().toISOString(),
    ...machine(),
    benchSeconds: Math.round((performance.now() - benchStarted) / 1000),
    loadAverage1m: load,
    defaults: { fsync: defaults.fsync, settleMs: defaults.loops.settleMs, scanIntervalMs: defaults.loops.scanIntervalMs, concurrency: defaults.loops.concurrency, commitIntervalMs: defaults.git.commitIntervalMs },
  };
  const rounded = figures.map((f) => ({ ...f, value: Math.round(f.value * 1000) / 1000 }));
  await fs.writeFile(RESULTS, JSON.stringify({ meta, sections: sections.map((s) => ({ name: s.name, title: s.title })), figures: rounded, errors }, null, 2) + '\n');
  process.stdout.write(markdown(sections, figures, meta, errors));

  if (process.env.BENCH_KEEP) log(`kept ${tempRoot}`);
  else {
    log('removing the temp workspaces');
    await fs.rm(tempRoot, { recursive: true, force: true });
  }
  log(`done in ${((performance.now() - benchStarted) / 1000).toFixed(1)} s; figures in ${RESULTS}`);
  // A section that threw may have left loops, watchers or servers running: the bench still ends.
  process.exit(errors.length ? 1 : 0);
}

/** 1-minute load average: the machine may be shared, and every figure here is sensitive to it. */
const loadavg = () => osLoadavg()[0]!.toFixed(2);

await main();
