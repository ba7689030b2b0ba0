/** orchestra lock acquire|release|status */
import type { Command } from 'commander';
import { cliActor } from '../../core/actor.js';
import { resolveTaskRef } from '../../core/task-ref.js';
import { int, type CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  const { act } = ctx;
  const lock = program.command('lock').description('exclusive, expiring claims of a task');
  lock.command('acquire <task>').requiredOption('--owner <name>').option('--ttl <seconds>', 'time to live', int('ttl'), 900)
    .action(act(async (ws, o, ref: string, opts: { owner: string; ttl: number }) => {
      const taskId = await resolveTaskRef(ws, ref);
      const { acquireLock } = await import('../../core/ops/locks.js');
      const r = await acquireLock(ws, taskId, opts.owner, opts.ttl * 1000, cliActor());
      o.ok({ task: taskId, owner: opts.owner, ...r, expiresAt: new Date(r.expiresAt).toISOString() }, `locked by ${opts.owner} until ${new Date(r.expiresAt).toISOString()} (attempt ${r.attempt})`);
    }));
  lock.command('release <task>').requiredOption('--owner <name>').action(act(async (ws, o, ref: string, opts: { owner: string }) => {
    const taskId = await resolveTaskRef(ws, ref);
    const { releaseLock } = await import('../../core/ops/locks.js');
    await releaseLock(ws, taskId, opts.owner, cliActor());
    o.ok({ task: taskId, released: true }, 'released');
  }));
  lock.command('status <task>').action(act(async (ws, o, ref: string) => {
    const taskId = await resolveTaskRef(ws, ref);
    const { lockStatus } = await import('../../core/ops/locks.js');
    const s = await lockStatus(ws, taskId);
    const data = s.state === 'free' ? { task: taskId, state: 'free' } : { task: taskId, state: s.state, owner: s.lease.owner, purpose: s.lease.purpose, attempt: s.lease.attempt, expiresAt: new Date(s.expiresAt).toISOString() };
    o.ok(data, s.state === 'free' ? 'free' : `${s.state}: ${s.lease.owner} (${s.lease.purpose}, attempt ${s.lease.attempt}) until ${new Date(s.expiresAt).toISOString()}`);
  }));
}
