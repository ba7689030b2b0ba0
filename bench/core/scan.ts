import { Workspace } from '../../src/core/workspace.js';
import { now, type Section } from '../harness.js';
import { round, summarize } from '../stats.js';

/**
 * What every loop's periodic reconcile scan costs (`ws.tasks()`), on the 10,000-task workspace
 * the replay section generated: once cold (a fresh process's first scan), then warm (nothing
 * changed, as in an idle `orchestra up`).
 */
export const scanSection: Section = {
  name: 'scan',
  title: 'Reconcile scan: ws.tasks() over the 10,000-task replay workspace, cold then warm',
  async run(ctx) {
    const root = ctx.shared.get('replay.root') as string | undefined;
    if (!root) throw new Error('the scan section needs the replay section first');
    const ws = await Workspace.open(root);
    let started = now();
    const count = (await ws.tasks()).length;
    const coldMs = now() - started;
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) {
      started = now();
      await ws.tasks();
      warm.push(now() - started);
    }
    const s = summarize(warm);
    ctx.record({ key: 'scan.cold', label: `first scan of ${count} tasks (cold, fresh process cache)`, value: round(coldMs), unit: 'ms' });
    ctx.record({ key: 'scan.warm', label: `scan of ${count} unchanged tasks (warm), p50`, value: round(s.p50), unit: 'ms', note: `max ${round(s.max)} ms over 5 scans; each loop scans every loops.scanIntervalMs (2 s)` });
  },
};
