#!/usr/bin/env node
import { Command, Option } from 'commander';
import { resolveWorkspaceDir, Workspace } from '../core/workspace.js';
import { register as agents } from './commands/agents.js';
import { register as artifacts } from './commands/artifacts.js';
import { register as integrity } from './commands/integrity.js';
import { register as locks } from './commands/locks.js';
import { register as pipeline } from './commands/pipeline.js';
import { register as run } from './commands/run.js';
import { register as tasks } from './commands/tasks.js';
import { register as triggers } from './commands/triggers.js';
import { register as workstreams } from './commands/workstreams.js';
import type { CliContext } from './context.js';
import { createOutput, type Output } from './output.js';
import '../pipeline/dev-fold.js'; // task views carry the dev pipeline's section (task.dev)

const program = new Command('orchestra')
  .description('Event-sourced orchestrator for AI software work')
  .option('-w, --workspace <dir>', 'workspace directory (default: $ORCHESTRA_WORKSPACE or ./workspace)')
  .option('--json', 'machine-readable output: {"status":"ok","data":...}')
  .showHelpAfterError();

const out = (): Output => createOutput(Boolean(program.opts().json));
const wsDir = () => resolveWorkspaceDir(program.opts().workspace);
const open = () => Workspace.open(wsDir());

/** Wraps an action: opens the workspace, runs, commits what was written, reports errors plainly. */
function act<A extends unknown[]>(fn: (ws: Workspace, o: Output, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const o = out();
    try {
      const ws = await open();
      await fn(ws, o, ...args);
      if (ws.wrote) await ws.journal.flush();
    } catch (err) {
      o.fail(err);
    }
  };
}

const ctx: CliContext = { out, wsDir, open, act };
for (const register of [run, workstreams, tasks, locks, triggers, artifacts, integrity, pipeline, agents]) register(program, ctx);

program.addOption(new Option('--debug').hideHelp());
program.parseAsync(process.argv).catch((err) => createOutput(false).fail(err));
