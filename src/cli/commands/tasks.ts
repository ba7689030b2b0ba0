/** orchestra task new|list|show|log|comment|move|update|archive */
import type { Command } from 'commander';
import { cliActor } from '../../core/actor.js';
import { OrchestraError } from '../../core/errors.js';
import type { TaskView } from '../../core/model/task.js';
import { resolveTaskRef } from '../../core/task-ref.js';
import type { Workspace } from '../../core/workspace.js';
import { collect, OWNER, type CliContext } from '../context.js';

/** States of a dev task before the executor read its repo, base and test. */
const BEFORE_EXECUTION = ['planning', 'planned', 'approved'];

/** `--state` must name a state of some workstream: a typo is an error, not "no tasks". */
async function assertKnownState(ws: Workspace, state: string): Promise<void> {
  const known = new Set<string>();
  for (const w of await ws.workstreams()) for (const [from, tos] of Object.entries(w.states)) { known.add(from); for (const to of tos) known.add(to); }
  for (const t of await ws.tasks()) known.add(t.state);
  if (!known.has(state)) throw new OrchestraError('INVALID_INPUT', `no workstream has the state "${state}"; known states: ${[...known].sort().join(', ')}`);
}

const writer = (opts: { owner?: string }) => ({ actor: cliActor(), ...(opts.owner ? { owner: opts.owner } : {}) });

export function register(program: Command, ctx: CliContext): void {
  const { act } = ctx;
  const task = program.command('task').description('tasks: units of work');
  task
    .command('new <title>')
    .description('create a task and print its id')
    .option('-d, --description <text>', 'what to do', '')
    .option('--workstream <name>', 'workstream (default from config)')
    .option('--tag <tag>', 'tag (repeatable)', collect)
    .option('--field <key=value>', 'extra field (repeatable)', collect)
    .option('--repo <repo>', 'dev tasks: repo path, URL or configured name')
    .option('--base <branch>', 'dev tasks: branch to start from')
    .option('--test <command>', 'dev tasks: test command')
    .action(act(async (ws, o, title: string, opts: { description: string; workstream?: string; tag?: string[]; field?: string[]; repo?: string; base?: string; test?: string }) => {
      const { createTask } = await import('../../core/ops/tasks.js');
      const fields: Record<string, unknown> = {};
      for (const pair of opts.field ?? []) {
        const at = pair.indexOf('=');
        if (at < 1) throw new OrchestraError('INVALID_INPUT', `--field wants key=value, got "${pair}"`);
        fields[pair.slice(0, at)] = pair.slice(at + 1);
      }
      for (const key of ['repo', 'base', 'test'] as const) if (opts[key]) fields[key] = opts[key];
      const actor = cliActor();
      const { checkNewTask } = await import('../../pipeline/new-task-check.js');
      await checkNewTask(ws, { workstream: opts.workstream, fields }, actor);
      const view = await createTask(ws, { title, description: opts.description, workstream: opts.workstream, tags: opts.tag ?? [], fields }, { actor });
      o.ok(view, view.id); // the id alone: scripts take it with $(orchestra task new ...); the number is in --json and task list
    }));
  task
    .command('list')
    .option('--state <state>', 'only tasks in this state')
    .option('--workstream <name>')
    .option('--tag <tag>', 'all of these tags (repeatable)', collect)
    .option('--all', 'include archived tasks')
    .action(act(async (ws, o, opts: { state?: string; workstream?: string; tag?: string[]; all?: boolean }) => {
      const { matchesFilter } = await import('../../core/ops/tasks.js');
      if (opts.state) await assertKnownState(ws, opts.state);
      const tasks = (await ws.tasks()).filter((t) => matchesFilter(t, { state: opts.state, workstream: opts.workstream, tags: opts.tag, includeArchived: opts.all }));
      const { taskLine } = await import('../format.js');
      o.ok(tasks, tasks.length ? tasks.map(taskLine) : 'no tasks');
    }));
  task.command('show <id>').description('a task: state, plan, tests, summary, diff stat, usage').action(act(async (ws, o, ref: string) => {
    const { taskDetails } = await import('../format.js');
    const { taskLeaseStatus } = await import('../../core/leases.js');
    const view = await ws.task(await resolveTaskRef(ws, ref));
    const lease = await taskLeaseStatus(ws, view);
    const leaseText = lease.state === 'free' ? undefined : `${lease.lease.owner} (${lease.lease.purpose}, attempt ${lease.lease.attempt}, ${lease.state})`;
    o.ok({ ...view, leaseStatus: lease.state }, taskDetails(view, leaseText));
  }));
  task.command('log <id>').description('the task\'s history: model calls and their tools, refusals, setup and test runs (--all: lease bookkeeping too)')
    .option('--all', 'also the lease records (acquired, released, expired)')
    .action(act(async (ws, o, ref: string, opts: { all?: boolean }) => {
      const { logLines } = await import('../format.js');
      const id = await resolveTaskRef(ws, ref);
      await ws.task(id);
      const { records } = await ws.readStream(`tasks/${id}`);
      // --json keeps every record (the machine view is the whole history); the text collapses leases.
      o.ok(records, logLines(records, Boolean(opts.all)));
    }));
  task.command('comment <id> <text>').option(...OWNER).action(act(async (ws, o, ref: string, text: string, opts: { owner?: string }) => {
    const id = await resolveTaskRef(ws, ref);
    const { commentTask } = await import('../../core/ops/tasks.js');
    o.ok(await commentTask(ws, id, text, writer(opts)), 'comment recorded');
  }));
  task.command('move <id> <state>').option('--reason <text>').option(...OWNER).action(act(async (ws, o, ref: string, state: string, opts: { reason?: string; owner?: string }) => {
    const id = await resolveTaskRef(ws, ref);
    const { moveTask } = await import('../../core/ops/tasks.js');
    const view = await moveTask(ws, id, state, { ...writer(opts), ...(opts.reason ? { reason: opts.reason } : {}) });
    o.ok(view, `${id} is now ${view.state}`);
  }));
  task.command('update <id>').description('change the title, description or tags; before execution, a dev task\'s repo, base or test')
    .option('--title <text>').option('-d, --description <text>').option('--tag <tag>', 'the new tags (repeatable; replaces them)', collect)
    .option('--repo <repo>', 'dev tasks not executing yet: repo path, URL or configured name')
    .option('--base <branch>', 'dev tasks not executing yet: branch to start from')
    .option('--test <command>', 'dev tasks not executing yet: test command')
    .option(...OWNER)
    .action(act(async (ws, o, ref: string, opts: { title?: string; description?: string; tag?: string[]; repo?: string; base?: string; test?: string; owner?: string }) => {
      const fields: Record<string, string> = {};
      for (const key of ['repo', 'base', 'test'] as const) if (opts[key] !== undefined) fields[key] = opts[key]!;
      if (opts.title === undefined && opts.description === undefined && opts.tag === undefined && !Object.keys(fields).length) throw new OrchestraError('INVALID_INPUT', 'give --title, --description, --tag, --repo, --base or --test');
      const id = await resolveTaskRef(ws, ref);
      if (fields.repo !== undefined) {
        const { checkRepoSpec } = await import('../../pipeline/target.js');
        await checkRepoSpec(ws, fields.repo);
      }
      const { updateTask } = await import('../../core/ops/tasks.js');
      const check = Object.keys(fields).length ? (view: TaskView) => {
        // The executor reads repo, base and test when it starts; after that a change would not apply.
        if (view.archived || !BEFORE_EXECUTION.includes(view.state) || view.dev.execution) {
          throw new OrchestraError('INVALID_TRANSITION', `task ${view.id} is ${view.state}${view.dev.execution ? ' and has started executing' : ''}: --repo, --base and --test can change only before execution (${BEFORE_EXECUTION.join(', ')})`);
        }
      } : undefined;
      const view = await updateTask(ws, id, { title: opts.title, description: opts.description, tags: opts.tag, ...(Object.keys(fields).length ? { fields } : {}) }, writer(opts), check);
      o.ok(view, `${id} updated`);
    }));
  task.command('archive <id>').option(...OWNER).action(act(async (ws, o, ref: string, opts: { owner?: string }) => {
    const id = await resolveTaskRef(ws, ref);
    const { archiveTask } = await import('../../core/ops/tasks.js');
    o.ok(await archiveTask(ws, id, writer(opts)), `${id} archived`);
  }));
}
