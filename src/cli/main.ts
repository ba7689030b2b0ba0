#!/usr/bin/env node
import './zod-mode.js'; // first: sets zod's mode before any module below builds a schema
import { Command, CommanderError, Option } from 'commander';
import { OrchestraError } from '../core/errors.js';
import { readArgvHead } from './argv-head.js';
import { packageFacts } from '../core/package-root.js';
import { resolveWorkspaceDir, Workspace } from '../core/workspace.js';
import { register as agents } from './commands/agents.js';
import { register as artifacts } from './commands/artifacts.js';
import { register as contextStore } from './commands/context.js';
import { register as forge } from './commands/forge.js';
import { register as integrity } from './commands/integrity.js';
import { register as locks } from './commands/locks.js';
import { register as monitoring } from './commands/monitoring.js';
import { register as pipeline } from './commands/pipeline.js';
import { register as profiles } from './commands/profiles.js';
import { register as run } from './commands/run.js';
import { register as tasks } from './commands/tasks.js';
import { register as triggers } from './commands/triggers.js';
import { register as workstreams } from './commands/workstreams.js';
import { register as sync } from './commands/sync.js';
import type { CliContext } from './context.js';
import { createOutput, type Output } from './output.js';
import '../pipeline/dev-fold.js'; // task views carry the dev pipeline's section (task.dev)

// --json is known before commander parses, so a usage error (unknown command or option, missing
// argument) can be reported as the JSON error envelope too, not as commander's text.
const argvHead = readArgvHead(process.argv.slice(2));
const jsonWanted = argvHead.json;

// `--version` is handled here, not as a commander option: plan and approve have their own
// `--version <n>` (a plan version), which a program-wide option would take over.
if (argvHead.versionAsked) {
  const { version } = packageFacts();
  process.stdout.write((jsonWanted ? JSON.stringify({ status: 'ok', data: { version } }) : version) + '\n');
  process.exit(0);
}

const program = new Command('orchestra')
  .description('Event-sourced orchestrator for AI software work')
  .addHelpText('after', '\n`orchestra --version` (-V) prints the version.')
  .option('-w, --workspace <dir>', 'workspace directory (default: $ORCHESTRA_WORKSPACE or ./workspace)')
  .option('--json', 'machine-readable output: {"status":"ok","data":...}')
  .showHelpAfterError()
  // Inherited by every subcommand registered below: usage errors throw instead of exiting, and
  // with --json commander writes nothing itself (the envelope says it all).
  .exitOverride()
  .configureOutput(jsonWanted ? { writeErr: () => undefined, outputError: () => undefined } : {});

const out = (): Output => createOutput(Boolean(program.opts().json) || jsonWanted);
const wsDir = () => resolveWorkspaceDir(program.opts().workspace);
const open = () => Workspace.open(wsDir());

/** Wraps an action: opens the workspace, runs, commits what was written, reports errors plainly. */
function act<A extends unknown[]>(fn: (ws: Workspace, o: Output, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const o = out();
    let ws: Workspace | undefined;
    try {
      ws = await open();
      await fn(ws, o, ...args);
      if (ws.wrote) await ws.journal.flush();
    } catch (err) {
      // What was written before the failure is committed too (or handed to the running committer).
      if (ws?.wrote) await ws.journal.flush().catch(() => undefined);
      o.fail(err);
    }
  };
}

const ctx: CliContext = { out, wsDir, open, act };
for (const register of [run, workstreams, tasks, locks, triggers, artifacts, contextStore, integrity, pipeline, agents, profiles, monitoring, forge, sync]) register(program, ctx);

program.addOption(new Option('--debug').hideHelp());
program.parseAsync(process.argv).catch((err) => {
  if (err instanceof CommanderError) {
    // --help and --version end this way too, with exit code 0.
    if (err.exitCode === 0) process.exit(0);
    if (!jsonWanted) process.exit(err.exitCode || 1); // commander already printed the error and the help
    createOutput(true).fail(new OrchestraError('INVALID_INPUT', err.message.replace(/^error: /, '')));
  }
  createOutput(jsonWanted).fail(err);
});
