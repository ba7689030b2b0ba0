import { join, relative } from 'node:path';
/** orchestra plan|approve|feedback|abort|retry: the people commands of the dev pipeline. */
import type { Command } from 'commander';
import { cliActor } from '../../core/actor.js';
import { OrchestraError } from '../../core/errors.js';
import { resolveTaskRef } from '../../core/task-ref.js';
import { int, OWNER, type CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  const { act } = ctx;
  const runCmd = (build: (id: string, ...rest: any[]) => import('../../core/inbox-format.js').Command, done: (view: import('../../core/model/task.js').TaskView) => string) =>
    act(async (ws, o, ref: string, ...rest: unknown[]) => {
      const id = await resolveTaskRef(ws, ref);
      const { runCommand } = await import('../../pipeline/run-command.js');
      // commander passes the options object before the Command itself
      const owner = (rest.at(-2) as { owner?: string } | undefined)?.owner;
      const view = await runCommand(ws, build(id, ...rest), cliActor(), undefined, owner);
      o.ok(view, done(view));
    });

  program.command('plan <id>').description('print the latest plan (or --version N)').option('--version <n>', 'plan version', int('version'))
    .action(act(async (ws, o, ref: string, opts: { version?: number }) => {
      const id = await resolveTaskRef(ws, ref);
      const view = await ws.task(id);
      const plan = opts.version ? view.dev.plans.find((p) => p.version === opts.version) : view.dev.plans.at(-1);
      if (!plan) throw new OrchestraError('NOT_FOUND', opts.version ? `task ${id} has no plan v${opts.version}` : `task ${id} has no plan yet (state: ${view.state})`);
      const text = await ws.readWorkspaceFile(plan.file);
      const { availableActions } = await import('../../pipeline/decide.js');
      const status = view.dev.approvedVersion === plan.version ? 'approved' : availableActions(view).approve === plan.version ? `awaiting approval: orchestra approve ${id} --version ${plan.version}` : 'superseded';
      o.ok({ ...plan, markdown: text, status }, `${text}\n(${status})`);
    }));
  program.command('approve <id>').description('approve a plan version (default: the latest); nothing runs without it').option('--version <n>', 'the version you reviewed', int('version')).option(...OWNER)
    .action(runCmd((id, opts: { version?: number }) => ({ command: 'approve', task: id, ...(opts.version ? { version: opts.version } : {}) }), (v) => `approved plan v${v.dev.approvedVersion} of ${v.id}; the executor takes it from here`));
  program.command('feedback <id> <text>').description('ask the planner for a revised plan, or (on a completed task) start a follow-up round on its branch').option(...OWNER)
    .action(runCmd((id, text: string) => ({ command: 'feedback', task: id, text }), (v) => `feedback recorded; ${v.dev.round > 1 && v.dev.rounds.at(-1)!.plans.length === 0 ? `round ${v.dev.round} started on ${v.dev.push?.branch ?? 'the task branch'}: ` : ''}plan v${v.dev.plans.length + 1} will follow for ${v.id}`));
  program.command('abort <id>').description('stop the task at the next safe point (the worktree is kept)').option('--reason <text>').option(...OWNER)
    .action(runCmd((id, opts: { reason?: string }) => ({ command: 'abort', task: id, ...(opts.reason ? { reason: opts.reason } : {}) }), (v) => `${v.id} aborted`));
  program.command('retry <id>').description('send a failed task back to execution (same plan) or, with --replan, to planning').option('--replan').option(...OWNER)
    .action(runCmd((id, opts: { replan?: boolean }) => ({ command: 'retry', task: id, replan: Boolean(opts.replan) }), (v) => `${v.id} is ${v.state} again`));
  program.command('diff <id>').description('the final diff of a task, or the work saved by a failed or aborted run')
    .action(act(async (ws, o, ref: string) => {
      const id = await resolveTaskRef(ws, ref);
      const view = await ws.task(id);
      const found = await diffOf(ws, view);
      if (!found) {
        o.ok({ task: id, kind: 'none' }, `${id} has no diff yet (state: ${view.state})`);
        return;
      }
      const patch = await ws.readWorkspaceFile(found.file);
      if (o.json) o.ok({ task: id, ...found, patch });
      else process.stdout.write(`# ${found.kind === 'final' ? 'final diff' : `work saved by a ${found.kind} run`}: ${found.file}\n${patch}${patch.endsWith('\n') ? '' : '\n'}`);
    }));
}

/**
 * The diff worth showing: the final one (`exec.finished`), else the patch a failed run saved
 * (`task.failed`), else the latest patch of a stopped or aborted run (`exec.stopped`, or an
 * `exec*-patch*.diff` / `exec*-aborted*.diff` record file).
 */
async function diffOf(ws: import('../../core/workspace.js').Workspace, view: import('../../core/model/task.js').TaskView): Promise<{ kind: 'final' | 'failed' | 'aborted'; file: string } | undefined> {
  if (view.dev.diffFile) return { kind: 'final', file: view.dev.diffFile };
  if (view.dev.failure?.patchFile) return { kind: 'failed', file: view.dev.failure.patchFile };
  const { records } = await ws.readStream(`tasks/${view.id}`);
  for (const r of [...records].reverse()) {
    for (const e of [...r.events].reverse()) {
      const d = e.data as { patchFile?: unknown };
      if ((e.type === 'exec.stopped' || e.type === 'task.failed') && typeof d.patchFile === 'string') return { kind: e.type === 'exec.stopped' ? 'aborted' : 'failed', file: d.patchFile };
    }
  }
  const { readdir } = await import('node:fs/promises');
  const names = (await readdir(ws.paths.taskRecords(view.id)).catch(() => [] as string[])).filter((n) => /^exec\d+-(patch|aborted)(-.*)?\.diff$/.test(n));
  const latest = names.sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).at(-1);
  return latest ? { kind: latest.includes('-aborted') ? 'aborted' : 'failed', file: relative(ws.paths.root, join(ws.paths.taskRecords(view.id), latest)) } : undefined;
}
