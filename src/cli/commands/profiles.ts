/** orchestra profile list|show|check: the effective security profiles (spec §15) and their hashes. */
import type { Command } from 'commander';
import { checkCommand } from '../../core/command-allow.js';
import { profileNames, resolveProfile } from '../../core/security-profiles.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  const { act } = ctx;
  const profile = program.command('profile').description('security profiles: what each step and agent may do');
  profile.command('list').action(act(async (ws, o) => {
    const all = profileNames(ws.config).map((name) => resolveProfile(ws.config, name));
    o.ok(all, all.map((p) => `${p.name.padEnd(12)} ${p.hash.slice(0, 12)}  tools: ${p.tools.join(', ') || 'none'}  commands: ${p.commands.length}  network: ${p.network}  secrets: ${p.secrets.join(', ') || 'none'}`));
  }));
  profile.command('show <name>').action(act(async (ws, o, name: string) => {
    const p = resolveProfile(ws.config, name);
    o.ok(p, JSON.stringify(p, null, 2));
  }));
  // Whether an untrusted actor could use this command line for the step (the intake check, dry).
  profile.command('check <name> <command>').action(act(async (ws, o, name: string, command: string) => {
    const verdict = checkCommand(command, resolveProfile(ws.config, name).commands);
    o.ok(verdict, verdict.allowed ? `allowed by "${verdict.pattern}"` : `not allowed: ${verdict.reason}`);
    if (!verdict.allowed) process.exitCode = 1;
  }));
}
