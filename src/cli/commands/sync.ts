/** orchestra sync|join (and init --remote): one workspace on several machines through a git remote (spec §20). */
import type { Command } from 'commander';
import { OrchestraError } from '../../core/errors.js';
import type { Workspace } from '../../core/workspace.js';
import type { CliContext } from '../context.js';
import type { RoundReport } from '../../sync/engine.js';

/** One round (fetch, integrate, push) now; UNSUPPORTED when the workspace has no sync remote. */
export async function syncOnce(ws: Workspace): Promise<RoundReport> {
  const { SyncEngine } = await import('../../sync/engine.js');
  const engine = await SyncEngine.open(ws);
  if (!engine) throw new OrchestraError('UNSUPPORTED', `this workspace has no sync remote "${ws.config.sync.remote}"${ws.config.sync.enabled ? '' : ' (config sync.enabled is false)'}: add one with "orchestra init --remote URL"`);
  try {
    ws.journal.scanAll(); // a one-shot round commits what any process wrote, not only this one
    const report = await engine.round();
    // What this clone withdrew since the last report, by this round or by `up`'s rounds.
    const { takeUnreported } = await import('../../sync/withdrawn.js');
    return { ...report, withdrawn: await takeUnreported(ws) };
  } finally {
    await ws.journal.release();
  }
}

/** Gives an existing workspace its sync remote and pushes its history. */
export async function shareWorkspace(ws: Workspace, url: string): Promise<RoundReport> {
  const { attachRemote } = await import('../../sync/clone.js');
  await attachRemote(ws, url);
  return syncOnce(ws);
}

export function reportLines(r: RoundReport): string[] {
  const withdrawn = r.withdrawn.map((w) => `withdrawn: ${w.path}${w.events ? ` (${w.events.join(', ')})` : ''}: ${w.reason}`);
  if (r.state === 'skipped') return [`sync skipped: ${r.reason}`, ...withdrawn];
  return [
    `synced in ${r.ms} ms: ${r.received} file(s) received, ${r.pushed ? 'pushed' : 'nothing to push'}${r.tip ? `; accepted tip ${r.tip.slice(0, 12)}` : ''}`,
    ...(r.renumbered ? [`${r.renumbered} local record(s) renumbered after records the remote accepted first`] : []),
    ...withdrawn,
  ];
}

export function register(program: Command, ctx: CliContext): void {
  const { out, open } = ctx;
  program.command('sync').description('exchange records with the sync remote once: fetch, re-decide what conflicts, push').action(async () => {
    const o = out();
    try {
      const ws = await open();
      const report = await syncOnce(ws);
      o.ok(report, reportLines(report));
    } catch (err) {
      o.fail(err);
    }
  });

  program
    .command('join <url> <dir>')
    .description('clone a shared workspace into a new directory (local state starts fresh; context keys are not shared: see ORCHESTRA_CONTEXT_KEY_FILE)')
    .action(async (url: string, dir: string) => {
      const o = out();
      try {
        const { cloneWorkspace } = await import('../../sync/clone.js');
        const { initWorkspace } = await import('../../app/setup.js');
        const target = await cloneWorkspace(url, dir);
        const { workspace } = await initWorkspace(target);
        const { runGit } = await import('../../sync/git-run.js');
        if (workspace.config.sync.remote !== 'origin') await runGit(target, ['remote', 'rename', 'origin', workspace.config.sync.remote]);
        const report = await syncOnce(workspace);
        o.ok({ workspace: target, sync: report }, [`joined: ${target}`, ...reportLines(report), 'context keys are not shared through git: give this machine the key with ORCHESTRA_CONTEXT_KEY_FILE if it needs secrets']);
      } catch (err) {
        o.fail(err);
      }
    });
}
