import { describeError } from '../core/errors.js';
import type { Workspace } from '../core/workspace.js';
import { probeIsolation } from '../exec/isolation.js';
import { isRoot } from '../exec/sandbox-user.js';
import { roleModel } from '../pipeline/model-runtime.js';
import type { LoopName } from './loop-registry.js';

/**
 * What each loop needs before it can do any work, checked when `up` starts: a loop that would
 * only fail every task it takes (no API key, no sandbox) is not started, and `up` says plainly
 * what is missing and how to fix it. The steps still refuse at run time (the machine can change).
 */
export interface Preflight { ready: LoopName[]; notStarted: Array<{ loop: LoopName; reason: string }> }

async function sandboxProblem(ws: Workspace): Promise<string | undefined> {
  if (ws.config.sandbox.isolation === 'unconfined') return undefined;
  const caps = await probeIsolation(ws.config.sandbox.bwrapPath);
  if (caps.bwrap) return undefined;
  return `no sandbox for test commands (${caps.notes.join('; ') || 'bwrap is not usable'}): install bubblewrap (apt-get install bubblewrap)${isRoot() ? ' and util-linux (setpriv)' : ''}`;
}

function modelProblem(ws: Workspace, role: 'planner' | 'executor'): string | undefined {
  try {
    roleModel(ws, ws.config[role]);
    return undefined;
  } catch (err) {
    return describeError(err).message;
  }
}

export async function preflight(ws: Workspace, loops: readonly LoopName[]): Promise<Preflight> {
  const result: Preflight = { ready: [], notStarted: [] };
  for (const loop of loops) {
    let reason: string | undefined;
    if (loop === 'planner') reason = modelProblem(ws, 'planner');
    if (loop === 'executor') reason = modelProblem(ws, 'executor') ?? (await sandboxProblem(ws));
    if (reason) result.notStarted.push({ loop, reason });
    else result.ready.push(loop);
  }
  return result;
}
