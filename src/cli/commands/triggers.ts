/** orchestra trigger add|list|remove */
import type { Command } from 'commander';
import { cliActor } from '../../core/actor.js';
import { OrchestraError } from '../../core/errors.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  const { act } = ctx;
  const trigger = program.command('trigger').description('actions run when a task enters a state');
  trigger.command('add <workstream>').requiredOption('--on <state>').option('--command <cmd>', 'shell command; {task_id} and {workstream_id} are substituted').option('--agent <name>', 'agent from ai/agents/<name>.md').option('--id <id>')
    .action(act(async (ws, o, name: string, opts: { on: string; command?: string; agent?: string; id?: string }) => {
      if (Boolean(opts.command) === Boolean(opts.agent)) throw new OrchestraError('INVALID_INPUT', 'give exactly one of --command or --agent');
      const { addTrigger } = await import('../../core/ops/workstreams.js');
      const t = await addTrigger(ws, name, { ...(opts.id ? { id: opts.id } : {}), on: opts.on, action: opts.command ? { kind: 'run_command', command: opts.command } : { kind: 'run_agent', agent: opts.agent! } }, cliActor());
      o.ok(t, `trigger ${t.id} added`);
    }));
  trigger.command('list [workstream]').action(act(async (ws, o, name?: string) => {
    const all = name ? [await ws.workstream(name)] : await ws.workstreams();
    const rows = all.flatMap((w) => w.triggers.map((t) => ({ workstream: w.name, ...t })));
    o.ok(rows, rows.map((t) => `${t.workstream}/${t.id}: on ${t.on} -> ${t.action.kind === 'run_command' ? t.action.command : `agent ${t.action.agent}`}`));
  }));
  trigger.command('remove <workstream> <id>').action(act(async (ws, o, name: string, id: string) => {
    const { removeTrigger } = await import('../../core/ops/workstreams.js');
    await removeTrigger(ws, name, id, cliActor());
    o.ok({ removed: id }, `trigger ${id} removed`);
  }));
}
