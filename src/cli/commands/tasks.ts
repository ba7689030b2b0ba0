/** orchestra task new|list|show|log|comment|move|update|archive */
import type { Command } from 'commander';
import { cliActor } from '../../core/actor.js';
import { OrchestraError } from '../../core/errors.js';
import { collect, OWNER, type CliContext } from '../context.js';

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
      const view = await createTask(ws, { title, description: opts.description, workstream: opts.workstream, tags: opts.tag ?? [], fields }, { actor: cliActor() });
      o.ok(view, view.id);
    }));
  task
    .command('list')
    .option('--state <state>')
    .option('--workstream <name>')
    .option('--tag <tag>', 'all of these tags (repeatable)', collect)
    .option('--all', 'include archived tasks')
    .action(act(async (ws, o, opts: { state?: string; workstream?: string; tag?: string[]; all?: boolean }) => {
      const { matchesFilter } = await import('../../core/ops/tasks.js');
      const tasks = (await ws.tasks()).filter((t) => matchesFilter(t, { state: opts.state, workstream: opts.workstream, tags: opts.tag, includeArchived: opts.all }));
      const { taskLine } = await import('../format.js');
      o.ok(tasks, tasks.length ? tasks.map(taskLine) : 'no tasks');
    }));
  task.command('show <id>').action(act(async (ws, o, id: string) => {
    const { taskDetails } = await import('../format.js');
    const { taskLeaseStatus } = await import('../../core/leases.js');
    const view = await ws.task(id);
    const lease = await taskLeaseStatus(ws, view);
    const leaseText = lease.state === 'free' ? undefined : `${lease.lease.owner} (${lease.lease.purpose}, attempt ${lease.lease.attempt}, ${lease.state})`;
    o.ok({ ...view, leaseStatus: lease.state }, taskDetails(view, leaseText));
  }));
  task.command('log <id>').description('the task\'s history, record by record').action(act(async (ws, o, id: string) => {
    const { describeActor } = await import('../../core/actor.js');
    const { summarizeEvent } = await import('../../core/journal.js');
    await ws.task(id);
    const { records } = await ws.readStream(`tasks/${id}`);
    o.ok(records, records.flatMap((r) => r.events.map((e) => `#${String(r.seq).padEnd(4)} ${r.at}  ${summarizeEvent(e.type, e.data).padEnd(50)} ${describeActor(r.actor)}`)));
  }));
  task.command('comment <id> <text>').option(...OWNER).action(act(async (ws, o, id: string, text: string, opts: { owner?: string }) => {
    const { commentTask } = await import('../../core/ops/tasks.js');
    o.ok(await commentTask(ws, id, text, writer(opts)), 'comment recorded');
  }));
  task.command('move <id> <state>').option('--reason <text>').option(...OWNER).action(act(async (ws, o, id: string, state: string, opts: { reason?: string; owner?: string }) => {
    const { moveTask } = await import('../../core/ops/tasks.js');
    const view = await moveTask(ws, id, state, { ...writer(opts), ...(opts.reason ? { reason: opts.reason } : {}) });
    o.ok(view, `${id} is now ${view.state}`);
  }));
  task.command('update <id>').description('change the title, description or tags')
    .option('--title <text>').option('-d, --description <text>').option('--tag <tag>', 'the new tags (repeatable; replaces them)', collect).option(...OWNER)
    .action(act(async (ws, o, id: string, opts: { title?: string; description?: string; tag?: string[]; owner?: string }) => {
      if (opts.title === undefined && opts.description === undefined && opts.tag === undefined) throw new OrchestraError('INVALID_INPUT', 'give --title, --description or --tag');
      const { updateTask } = await import('../../core/ops/tasks.js');
      const view = await updateTask(ws, id, { title: opts.title, description: opts.description, tags: opts.tag }, writer(opts));
      o.ok(view, `${id} updated`);
    }));
  task.command('archive <id>').option(...OWNER).action(act(async (ws, o, id: string, opts: { owner?: string }) => {
    const { archiveTask } = await import('../../core/ops/tasks.js');
    o.ok(await archiveTask(ws, id, writer(opts)), `${id} archived`);
  }));
}
