/** orchestra workstream create|list|show|tree */
import type { Command } from 'commander';
import { cliActor } from '../../core/actor.js';
import { OrchestraError } from '../../core/errors.js';
import { collect, int, type CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  const { act } = ctx;
  const workstream = program.command('workstream').description('workstreams: named streams of work with their own state maps');
  workstream
    .command('create <name>')
    .option('--parent <name>', 'parent workstream')
    .option('--description <text>', 'what it is for', '')
    .option('--states <json>', 'state map as JSON: {"todo":["doing"],"doing":["done"],"done":[]} (first = initial)')
    .option('--max-retries <n>', 'automatic retries of failed tasks', int('max-retries'))
    .option('--backoff-base <seconds>', 'first retry delay; doubles each retry', int('backoff-base'))
    .option('--require-field <name>', 'a field every task must have (repeatable)', collect)
    .action(act(async (ws, o, name: string, opts: { parent?: string; description: string; states?: string; maxRetries?: number; backoffBase?: number; requireField?: string[] }) => {
      const { createWorkstream } = await import('../../core/ops/workstreams.js');
      let states: unknown;
      if (opts.states) {
        try { states = JSON.parse(opts.states); } catch { throw new OrchestraError('INVALID_JSON', '--states must be a JSON object'); }
      }
      const view = await createWorkstream(ws, {
        name, description: opts.description,
        ...(opts.parent ? { parent: opts.parent } : {}),
        ...(states ? { states: states as Record<string, string[]> } : {}),
        retry: { ...(opts.maxRetries !== undefined ? { maxRetries: opts.maxRetries } : {}), ...(opts.backoffBase !== undefined ? { baseSeconds: opts.backoffBase } : {}) },
        ...(opts.requireField ? { requiredFields: opts.requireField } : {}),
      }, cliActor());
      o.ok(view, `workstream ${view.name} created (initial state: ${view.initial})`);
    }));
  workstream.command('list').action(act(async (ws, o) => {
    const all = await ws.workstreams();
    o.ok(all, all.map((w) => `${w.name.padEnd(16)} ${Object.keys(w.states).join(' > ')}${w.parent ? `  (parent: ${w.parent})` : ''}`));
  }));
  workstream.command('show <name>').action(act(async (ws, o, name: string) => {
    const w = await ws.workstream(name);
    o.ok(w, [
      `${w.name}${w.description ? ` - ${w.description}` : ''}`,
      ...(w.parent ? [`  parent: ${w.parent}`] : []),
      '  states:', ...Object.entries(w.states).map(([s, next]) => `    ${s}${s === w.initial ? ' (initial)' : ''} -> ${next.join(', ') || '(final)'}`),
      `  retry: max ${w.retry.maxRetries}, ${w.retry.backoff} from ${w.retry.baseSeconds}s`,
      ...(w.requiredFields.length ? [`  required fields: ${w.requiredFields.join(', ')}`] : []),
      ...w.triggers.map((t) => `  trigger ${t.id}: on ${t.on} -> ${t.action.kind === 'run_command' ? t.action.command : `agent ${t.action.agent}`}`),
    ]);
  }));
  workstream.command('tree').action(act(async (ws, o) => {
    const { workstreamTree } = await import('../../core/ops/workstreams.js');
    const all = await ws.workstreams();
    o.ok(all.map((w) => ({ name: w.name, parent: w.parent ?? null })), workstreamTree(all));
  }));
}
