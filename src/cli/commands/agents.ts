/** orchestra agent list|run */
import type { Command } from 'commander';
import { cliActor } from '../../core/actor.js';
import { resolveTaskRef } from '../../core/task-ref.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  const { act } = ctx;
  const agent = program.command('agent').description('agents defined as ai/agents/<name>.md');
  agent.command('list').action(act(async (ws, o) => {
    const { listAgents } = await import('../../pipeline/agents.js');
    const agents = await listAgents(ws);
    o.ok(agents, agents.length ? agents.map((a) => `${a.name.padEnd(16)} ${a.provider}/${a.model}  profile: ${a.securityProfile.name}  tools: ${a.tools.join(', ') || 'none'}  - ${a.description}`) : 'no agents');
  }));
  agent.command('run <name>').requiredOption('--task <id>').action(act(async (ws, o, name: string, opts: { task: string }) => {
    const { runAgent } = await import('../../pipeline/agents.js');
    const result = await runAgent(ws, name, await resolveTaskRef(ws, opts.task), cliActor());
    o.ok(result, result.output);
    if (!result.ok) process.exitCode = 1;
  }));
}
