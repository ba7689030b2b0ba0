import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { makeSampleRepo } from '../../src/app/demo.js';
import { runUp } from '../../src/app/up.js';
import { Workspace } from '../../src/core/workspace.js';
import { newId } from '../../src/core/ids.js';
import { parseDevEvent } from '../../src/pipeline/dev-events.js';
import { runCommand } from '../../src/pipeline/run-command.js';
import { startFakeAnthropic } from '../../test/support/fake-anthropic.js';
import { makeWorkspace, now, silentLogger, sleep, type BenchContext, type Section } from '../harness.js';

/**
 * The cost of one 20-turn execution with Anthropic prompt caching on and off: the executor runs
 * against the local fake Messages API, which reports cache writes and reads the way the API does
 * (a prefix is written on first sight and read after), and the figures are the costs the
 * records hold (`model.called` costUsd at the default price of claude-sonnet-4-6). The fake's
 * token counts are 4 characters a token, so the figures compare the two modes, not a real bill.
 */
const TURNS = 20;
const MODEL = 'claude-sonnet-4-6';
/** A file of realistic size the model reads back: every turn's result grows the prefix. */
const NOTES = `# Module notes\n\n${'The add() helper is used by the invoice totals and the report footers; keep its contract. '.repeat(60)}\n`;
const READS = ['notes/context.md', 'src/math.js', 'test/math.test.js', 'README.md', 'package.json'];

/** Turn n of the executor: write the notes, read files back, fix, test, finish (20 turns). */
function executorTurn(n: number) {
  if (n === 0) return { toolCalls: [{ name: 'write_file', args: { path: 'notes/context.md', content: NOTES } }] };
  if (n < TURNS - 3) return { toolCalls: [{ name: 'read_file', args: { path: READS[n % READS.length]! } }] };
  if (n === TURNS - 3) return { toolCalls: [{ name: 'replace_in_file', args: { path: 'src/math.js', old_text: 'return a - b;', new_text: 'return a + b;' } }] };
  if (n === TURNS - 2) return { toolCalls: [{ name: 'run_tests', args: {} }] };
  return { toolCalls: [{ name: 'finish', args: { summary: 'add() adds' } }] };
}

const PLANNER = { replies: [{ toolCalls: [{ name: 'submit_plan', args: { summary: 'fix add()', steps: ['read the code', 'fix add()', 'run the tests'], criteria: ['tests pass'], risks: [] } }] }] };

interface Run { costUsd: number; turns: number; inputTokens: number; cachedInputTokens: number; cacheWriteTokens: number; ms: number }

async function runOnce(ctx: BenchContext, caching: boolean): Promise<Run> {
  const dir = await ctx.dir(`caching-${caching ? 'on' : 'off'}`);
  const { repo } = await makeSampleRepo(dir);
  const ws = await makeWorkspace(join(dir, 'workspace'), { fsync: false, loops: { scanIntervalMs: 200, settleMs: 0 } });
  const config = JSON.parse(await fs.readFile(ws.paths.config, 'utf8'));
  await fs.writeFile(join(ws.paths.root, 'planner.json'), JSON.stringify(PLANNER));
  Object.assign(config, {
    repos: { sample: repo },
    testCommand: 'true',
    planner: { provider: 'scripted', model: 'bench-planner', scriptFile: 'planner.json' },
    executor: { provider: 'anthropic', model: MODEL, promptCaching: caching, maxRetries: 0 },
  });
  await fs.writeFile(ws.paths.config, JSON.stringify(config, null, 2));

  const server = await startFakeAnthropic({
    promptCache: true,
    respond: (body) => ({ usage: { outputTokens: 60 }, ...executorTurn((body.messages as Array<{ role: string }>).filter((m) => m.role === 'assistant').length) }),
  });
  const saved = { key: process.env.ANTHROPIC_API_KEY, url: process.env.ANTHROPIC_BASE_URL };
  Object.assign(process.env, { ANTHROPIC_API_KEY: 'bench-key', ANTHROPIC_BASE_URL: server.url });
  const fresh = await Workspace.open(ws.paths.root);
  const up = await runUp(fresh, { only: ['intake', 'planner', 'executor'], log: silentLogger });
  try {
    const id = newId();
    const file = join(fresh.paths.inbox, 'bench-caching.json');
    await fs.writeFile(`${file}.tmp`, JSON.stringify({ id, title: 'fix add()', repo: 'sample' }));
    await fs.rename(`${file}.tmp`, file);
    const started = now();
    for (;;) {
      const task = await fresh.findTask(id);
      if (task?.state === 'planned') await runCommand(fresh, { command: 'approve', task: id }, { kind: 'cli', name: 'bench' }).catch(() => undefined);
      if (task?.state === 'failed') throw new Error(`caching bench task failed: ${task.dev.failure?.reason}`);
      if (task && ['publishing', 'completed'].includes(task.state)) break;
      if (now() - started > 180_000) throw new Error(`caching bench timed out (task ${task?.state})`);
      await sleep(50);
    }
    const ms = now() - started;
    const run: Run = { costUsd: 0, turns: 0, inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, ms };
    for (const record of (await fresh.readStream(`tasks/${id}`)).records) {
      for (const event of record.events) {
        const e = parseDevEvent(event);
        if (e?.type !== 'model.called' || e.data.role !== 'executor') continue;
        run.turns++;
        run.costUsd += e.data.costUsd;
        run.inputTokens += e.data.inputTokens;
        run.cachedInputTokens += e.data.cachedInputTokens;
        run.cacheWriteTokens += e.data.cacheWriteTokens;
      }
    }
    if (run.turns !== TURNS) throw new Error(`expected ${TURNS} executor turns, recorded ${run.turns}`);
    return run;
  } finally {
    await up.stop();
    await server.close();
    for (const [name, value] of [['ANTHROPIC_API_KEY', saved.key], ['ANTHROPIC_BASE_URL', saved.url]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

export const cachingSection: Section = {
  name: 'caching',
  title: `recorded cost of one ${TURNS}-turn execution (${MODEL} list price) against the fake Anthropic API, prompt caching on vs off`,
  async run(ctx) {
    const on = await runOnce(ctx, true);
    ctx.log(`caching on: $${on.costUsd.toFixed(4)}, ${on.inputTokens} input tokens (${on.cachedInputTokens} read from cache, ${on.cacheWriteTokens} written)`);
    const off = await runOnce(ctx, false);
    ctx.log(`caching off: $${off.costUsd.toFixed(4)}, ${off.inputTokens} input tokens`);
    const usd = (x: number) => Math.round(x * 1e6) / 1e6;
    ctx.record({ key: 'caching.on.costUsd', label: `${TURNS}-turn execution, prompt caching on: recorded cost`, value: usd(on.costUsd), unit: 'USD', note: `${on.inputTokens} input tokens, ${on.cachedInputTokens} read from cache, ${on.cacheWriteTokens} written` });
    ctx.record({ key: 'caching.off.costUsd', label: `${TURNS}-turn execution, prompt caching off: recorded cost`, value: usd(off.costUsd), unit: 'USD', note: `${off.inputTokens} input tokens` });
    ctx.record({ key: 'caching.saving', label: 'cost with caching / cost without', value: Math.round((on.costUsd / off.costUsd) * 1000) / 1000, unit: 'x' });
  },
};
