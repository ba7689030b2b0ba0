import { loopActor } from '../core/actor.js';
import { useSpawnServer } from '../exec/spawner.js';
import { maybeAutoRotate } from '../core/context/rotation.js';
import { describeError, OrchestraError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import type { Workspace } from '../core/workspace.js';
import type { Loop, LoopEnv } from '../loops/loop.js';
import { DEV_WORKSTREAM } from '../pipeline/dev-workstream.js';
import { ensureBuiltinWorkstreams } from './setup.js';
import { preflight } from './preflight.js';
import { LOOP_NAMES, createLoop, type LoopName } from './loop-registry.js';
import { logSilenced, telegramEnv } from '../core/environment.js';
import { startPresence } from '../core/presence.js';
import { ProgressReporter, type ProgressFormat } from './progress.js';
import { startMonitoring, type Monitoring } from './monitoring.js';
import { SyncEngine } from '../sync/engine.js';
import { primeTaskNumbers } from '../core/task-ref.js';

export interface UpOptions {
  only?: string[];
  once?: boolean;
  log?: Logger;
  idlePollMs?: number;
  /** false: start the loops without checking what they need (tests of the run-time refusals). */
  checks?: boolean;
  /** Where to print one line per step per task as it happens (see progress.ts); none by default. */
  progress?: { print: (line: string) => void; format?: ProgressFormat };
  /** Health monitor, alert evaluator and /metrics (monitoring.ts); on by default, never with `once`. */
  monitoring?: boolean;
}

/**
 * Runs loops until stopped (or, with `once`, until every loop is idle twice in a row). This
 * process also commits the workspace while it holds the committer lock.
 */
export async function runUp(ws: Workspace, opts: UpOptions = {}): Promise<{ stop: () => Promise<void>; done: Promise<void>; monitoring?: Monitoring }> {
  const log = opts.log ?? createLogger();
  // A long-running process grows: its git is forked by a small helper instead (exec/spawner.ts).
  useSpawnServer();
  const wanted = (opts.only && opts.only.length > 0 ? opts.only : await defaultLoops(ws)) as LoopName[];
  for (const name of wanted) {
    if (!LOOP_NAMES.includes(name)) throw new OrchestraError('INVALID_INPUT', `unknown loop "${name}" (loops: ${LOOP_NAMES.join(', ')})`);
  }
  if (wanted.some((n) => ['planner', 'executor', 'publisher'].includes(n)) && (await ws.findWorkstream(DEV_WORKSTREAM))) {
    await ensureBuiltinWorkstreams(ws, loopActor('up'));
  }
  // Automatic key rotation by age (config context.rotateAfterDays): a failure is logged, not fatal.
  await maybeAutoRotate(ws, loopActor('up')).then(
    (r) => r && log.info('context key rotated by age', { from: r.from, to: r.to, reencrypted: r.reencrypted, retired: r.retired }),
    (err) => log.warn('context key rotation failed', describeError(err)),
  );
  // Loops that could only fail every task they take are not started; up says why.
  const checked = opts.checks === false ? { ready: wanted, notStarted: [] } : await preflight(ws, wanted);
  for (const { loop, reason } of checked.notStarted) log.warn(`not starting ${loop}: ${reason}`, { loop });
  if (checked.ready.length === 0) {
    throw new OrchestraError('UNSUPPORTED', `no loop can run: ${checked.notStarted.map((n) => `${n.loop}: ${n.reason}`).join('; ')}`);
  }
  const loops: Loop[] = [];
  for (const name of checked.ready) {
    const env: LoopEnv = { ws, actor: loopActor(name), log: log.child(name) };
    loops.push(await createLoop(name, env));
  }
  // Progress lines are quiet with ORCHESTRA_LOG=silent, like the log.
  const progress = opts.progress && !logSilenced() ? new ProgressReporter(ws, opts.progress.print, opts.progress.format) : undefined;
  await progress?.begin();
  // The committer commits what this process wrote and what other writers hand over (journal notes).
  void primeTaskNumbers(ws).catch(() => undefined);
  ws.journal.start(undefined, (err, retry) => log.warn('commit failed', { ...describeError(err), failures: retry.failures, retryInMs: retry.waitMs }));
  // Several machines (spec §20): only when the workspace repo has the sync remote; else undefined.
  const sync = await startSync(ws, log.child('sync'));
  for (const loop of loops) await loop.start();
  log.info('loops running', { loops: checked.ready.join(','), workspace: ws.paths.root });
  // `.orchestra/up/<host>-<pid>.json`: tells the adapters that loops run here (the web's banner).
  const presence = await startPresence(ws.paths, checked.ready, { onError: (err) => log.warn('cannot touch the presence file', describeError(err)) });
  const monitoring = opts.once || opts.monitoring === false || !ws.config.monitoring.enabled ? undefined : await startMonitoring(ws, log.child('monitor')).catch(async (err) => {
    await presence.stop();
    for (const loop of loops) await loop.stop().catch(() => undefined);
    await ws.journal.stop().catch(() => undefined);
    throw err;
  });

  let stopped = false;
  let resolveDone!: () => void;
  let failure: unknown;
  const settled = new Promise<void>((r) => (resolveDone = r));
  // With --once, a loop that cannot go on (a full disk, a read-only workspace) ends the run with its error.
  const done = settled.then(() => {
    if (failure !== undefined) throw failure;
  });
  done.catch(() => undefined);
  const stop = async () => {
    if (stopped) return settled;
    stopped = true;
    await monitoring?.stop().catch((err) => log.warn('stopping the monitor failed', describeError(err)));
    await presence.stop();
    for (const loop of loops) await loop.stop().catch((err) => log.warn(`stopping ${loop.name} failed`, describeError(err)));
    await progress?.end().catch(() => undefined);
    await sync?.stop();
    await ws.journal.stop().catch((err) => log.warn('final commit failed', describeError(err)));
    log.info('stopped');
    resolveDone();
    return settled;
  };
  if (opts.once) {
    void (async () => {
      let quiet = 0;
      while (!stopped && quiet < 2) {
        await new Promise((r) => setTimeout(r, opts.idlePollMs ?? 100));
        let allIdle = true;
        try {
          for (const loop of loops) if (!(await loop.idle())) allIdle = false;
        } catch (err) {
          failure = err;
          log.error('stopping: a loop cannot go on', describeError(err));
          break;
        }
        quiet = allIdle ? quiet + 1 : 0;
      }
      await stop();
    })();
  }
  return { stop, done, ...(monitoring ? { monitoring } : {}) };
}

/** Starts the sync engine when the workspace has a sync remote: a first round (offline is fine), then rounds until stop. */
async function startSync(ws: Workspace, log: Logger): Promise<SyncEngine | undefined> {
  const sync = await SyncEngine.open(ws, log);
  if (!sync) return undefined;
  await sync.round().then(
    (r) => log.info('synced', { received: r.received, renumbered: r.renumbered, withdrawn: r.withdrawn.length }),
    (err) => log.warn('sync failed; working on what this clone holds', describeError(err)),
  );
  await sync.start();
  return sync;
}

async function defaultLoops(ws: Workspace): Promise<string[]> {
  const names: string[] = ['intake', 'triggers', 'retry', 'planner', 'executor', 'publisher'];
  if (ws.config.telegram.enabled || telegramEnv().token) names.push('telegram');
  if (ws.config.web.enabled) names.push('web');
  if (ws.config.forge.poll) names.push('forge');
  return names;
}
