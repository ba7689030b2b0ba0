import { hostname, userInfo } from 'node:os';
import { z } from 'zod';
import { userEnv } from './environment.js';

/** Who did something. Every record carries one. */
export const ActorSchema = z.object({
  kind: z.enum(['cli', 'loop', 'adapter', 'inbox', 'system', 'agent']),
  name: z.string().min(1).max(200),
  user: z.string().max(200).optional(),
  pid: z.number().int().optional(),
  host: z.string().max(200).optional(),
});
export type Actor = z.infer<typeof ActorSchema>;

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

export function cliActor(): Actor {
  return { kind: 'cli', name: 'orchestra', user: userEnv() ?? safeUser(), pid: process.pid, host: hostname() };
}

export function loopActor(loop: string): Actor {
  return { kind: 'loop', name: loop, pid: process.pid, host: hostname() };
}

export function describeActor(actor: Actor): string {
  const who = actor.user ? `${actor.name}:${actor.user}` : actor.name;
  const where = actor.pid ? `@${actor.host ?? 'host'}#${actor.pid}` : '';
  return `${actor.kind}:${who}${where}`;
}
