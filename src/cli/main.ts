#!/usr/bin/env node
import { createReadStream } from 'node:fs';
import { Command, Option } from 'commander';
import { cliActor } from '../core/actor.js';
import { OrchestraError } from '../core/errors.js';
import { resolveWorkspaceDir, Workspace } from '../core/workspace.js';
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

const collect = (value: string, prev: string[] = []) => [...prev, value];
const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new OrchestraError('INVALID_INPUT', `${name} must be a whole number`);
  return n;
};

program
  .command('init')
  .description('create the workspace (git repo, layout, config, built-in workstreams); safe to repeat')
  .action(async () => {
    const o = out();
    try {
      const { initWorkspace } = await import('../app/setup.js');
      const { workspace, created } = await initWorkspace(wsDir());
      o.ok({ workspace: workspace.paths.root, created }, `${created ? 'created' : 'already initialised'}: ${workspace.paths.root}\ndrop task files into ${workspace.paths.inbox}`);
    } catch (err) {
      o.fail(err);
    }
  });

program
  .command('up')
  .description('run the loops until SIGINT/SIGTERM')
  .option('--only <loops>', 'comma-separated loops to run (intake,triggers,retry,planner,executor,publisher,telegram,web)')
  .option('--once', 'process everything pending, wait until idle, then exit')
  .action((opts: { only?: string; once?: boolean }) => runLoops(opts.only?.split(',').map((s) => s.trim()).filter(Boolean), opts.once));

/** Runs loops (all configured ones by default) in the foreground until SIGINT/SIGTERM or idle with --once. */
async function runLoops(only?: string[], once?: boolean) {
  const o = out();
  try {
    const ws = await open();
    const { runUp } = await import('../app/up.js');
    const { stop, done } = await runUp(ws, { only, once });
    const onSignal = () => void stop();
    // `on`, not `once`: execa's signal-exit re-raises a signal that has no other listener left,
    // which killed the process (exit 143) before the loops stopped and released their leases.
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    await done;
    o.ok({ stopped: true });
    process.exit(0);
  } catch (err) {
    o.fail(err);
  }
}

// ---- workstreams ----
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
    const { createWorkstream } = await import('../core/ops/workstreams.js');
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
  const { workstreamTree } = await import('../core/ops/workstreams.js');
  const all = await ws.workstreams();
  o.ok(all.map((w) => ({ name: w.name, parent: w.parent ?? null })), workstreamTree(all));
}));

// ---- tasks ----
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
    const { createTask } = await import('../core/ops/tasks.js');
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
    const { matchesFilter } = await import('../core/ops/tasks.js');
    const tasks = (await ws.tasks()).filter((t) => matchesFilter(t, { state: opts.state, workstream: opts.workstream, tags: opts.tag, includeArchived: opts.all }));
    const { taskLine } = await import('./format.js');
    o.ok(tasks, tasks.length ? tasks.map(taskLine) : 'no tasks');
  }));
task.command('show <id>').action(act(async (ws, o, id: string) => {
  const { taskDetails } = await import('./format.js');
  const { taskLeaseStatus } = await import('../core/leases.js');
  const view = await ws.task(id);
  const lease = await taskLeaseStatus(ws, view);
  const leaseText = lease.state === 'free' ? undefined : `${lease.lease.owner} (${lease.lease.purpose}, attempt ${lease.lease.attempt}, ${lease.state})`;
  o.ok({ ...view, leaseStatus: lease.state }, taskDetails(view, leaseText));
}));
task.command('log <id>').description('the task\'s history, record by record').action(act(async (ws, o, id: string) => {
  const { describeActor } = await import('../core/actor.js');
  const { summarizeEvent } = await import('../core/journal.js');
  await ws.task(id);
  const { records } = await ws.readStream(`tasks/${id}`);
  o.ok(records, records.flatMap((r) => r.events.map((e) => `#${String(r.seq).padEnd(4)} ${r.at}  ${summarizeEvent(e.type, e.data).padEnd(50)} ${describeActor(r.actor)}`)));
}));
task.command('comment <id> <text>').action(act(async (ws, o, id: string, text: string) => {
  const { commentTask } = await import('../core/ops/tasks.js');
  o.ok(await commentTask(ws, id, text, { actor: cliActor() }), 'comment recorded');
}));
task.command('move <id> <state>').option('--reason <text>').action(act(async (ws, o, id: string, state: string, opts: { reason?: string }) => {
  const { moveTask } = await import('../core/ops/tasks.js');
  const view = await moveTask(ws, id, state, { actor: cliActor(), ...(opts.reason ? { reason: opts.reason } : {}) });
  o.ok(view, `${id} is now ${view.state}`);
}));
task.command('update <id>').description('change the title, description or tags')
  .option('--title <text>').option('-d, --description <text>').option('--tag <tag>', 'the new tags (repeatable; replaces them)', collect)
  .action(act(async (ws, o, id: string, opts: { title?: string; description?: string; tag?: string[] }) => {
    if (opts.title === undefined && opts.description === undefined && opts.tag === undefined) throw new OrchestraError('INVALID_INPUT', 'give --title, --description or --tag');
    const { updateTask } = await import('../core/ops/tasks.js');
    const view = await updateTask(ws, id, { title: opts.title, description: opts.description, tags: opts.tag }, { actor: cliActor() });
    o.ok(view, `${id} updated`);
  }));
task.command('archive <id>').action(act(async (ws, o, id: string) => {
  const { archiveTask } = await import('../core/ops/tasks.js');
  o.ok(await archiveTask(ws, id, { actor: cliActor() }), `${id} archived`);
}));

// ---- locks ----
const lock = program.command('lock').description('exclusive, expiring claims of a task');
lock.command('acquire <task>').requiredOption('--owner <name>').option('--ttl <seconds>', 'time to live', int('ttl'), 900)
  .action(act(async (ws, o, taskId: string, opts: { owner: string; ttl: number }) => {
    const { acquireLock } = await import('../core/ops/locks.js');
    const r = await acquireLock(ws, taskId, opts.owner, opts.ttl * 1000, cliActor());
    o.ok({ task: taskId, owner: opts.owner, ...r, expiresAt: new Date(r.expiresAt).toISOString() }, `locked by ${opts.owner} until ${new Date(r.expiresAt).toISOString()} (attempt ${r.attempt})`);
  }));
lock.command('release <task>').requiredOption('--owner <name>').action(act(async (ws, o, taskId: string, opts: { owner: string }) => {
  const { releaseLock } = await import('../core/ops/locks.js');
  await releaseLock(ws, taskId, opts.owner, cliActor());
  o.ok({ task: taskId, released: true }, 'released');
}));
lock.command('status <task>').action(act(async (ws, o, taskId: string) => {
  const { lockStatus } = await import('../core/ops/locks.js');
  const s = await lockStatus(ws, taskId);
  const data = s.state === 'free' ? { task: taskId, state: 'free' } : { task: taskId, state: s.state, owner: s.lease.owner, purpose: s.lease.purpose, attempt: s.lease.attempt, expiresAt: new Date(s.expiresAt).toISOString() };
  o.ok(data, s.state === 'free' ? 'free' : `${s.state}: ${s.lease.owner} (${s.lease.purpose}, attempt ${s.lease.attempt}) until ${new Date(s.expiresAt).toISOString()}`);
}));

// ---- triggers ----
const trigger = program.command('trigger').description('actions run when a task enters a state');
trigger.command('add <workstream>').requiredOption('--on <state>').option('--command <cmd>', 'shell command; {task_id} and {workstream_id} are substituted').option('--agent <name>', 'agent from ai/agents/<name>.md').option('--id <id>')
  .action(act(async (ws, o, name: string, opts: { on: string; command?: string; agent?: string; id?: string }) => {
    if (Boolean(opts.command) === Boolean(opts.agent)) throw new OrchestraError('INVALID_INPUT', 'give exactly one of --command or --agent');
    const { addTrigger } = await import('../core/ops/workstreams.js');
    const t = await addTrigger(ws, name, { ...(opts.id ? { id: opts.id } : {}), on: opts.on, action: opts.command ? { kind: 'run_command', command: opts.command } : { kind: 'run_agent', agent: opts.agent! } }, cliActor());
    o.ok(t, `trigger ${t.id} added`);
  }));
trigger.command('list [workstream]').action(act(async (ws, o, name?: string) => {
  const all = name ? [await ws.workstream(name)] : await ws.workstreams();
  const rows = all.flatMap((w) => w.triggers.map((t) => ({ workstream: w.name, ...t })));
  o.ok(rows, rows.map((t) => `${t.workstream}/${t.id}: on ${t.on} -> ${t.action.kind === 'run_command' ? t.action.command : `agent ${t.action.agent}`}`));
}));
trigger.command('remove <workstream> <id>').action(act(async (ws, o, name: string, id: string) => {
  const { removeTrigger } = await import('../core/ops/workstreams.js');
  await removeTrigger(ws, name, id, cliActor());
  o.ok({ removed: id }, `trigger ${id} removed`);
}));

// ---- artifacts ----
const artifact = program.command('artifact').description('work products stored by path');
artifact.command('put <path>').option('--file <file>', 'read content from a file (default: stdin)').option('--task <id>', 'the task it belongs to')
  .action(act(async (ws, o, path: string, opts: { file?: string; task?: string }) => {
    const { putArtifact } = await import('../core/ops/artifacts.js');
    // Streamed: a huge file or an endless pipe is cut off at storage.maxArtifactBytes.
    const content = opts.file ? createReadStream(opts.file) : process.stdin;
    const ref = await putArtifact(ws, path, content, cliActor(), opts.task);
    o.ok(ref, `stored ${path} (${ref.size} bytes, sha256 ${ref.sha256.slice(0, 12)})`);
  }));
artifact.command('get <path>').action(act(async (ws, o, path: string) => {
  const { getArtifact } = await import('../core/ops/artifacts.js');
  const { ref, content } = await getArtifact(ws, path);
  if (o.json) o.ok({ ...ref, content: content.toString('utf8') });
  else process.stdout.write(content);
}));
artifact.command('list [prefix]').action(act(async (ws, o, prefix?: string) => {
  const { listArtifacts } = await import('../core/ops/artifacts.js');
  const refs = await listArtifacts(ws, prefix ?? '');
  o.ok(refs, refs.map((r) => `${r.path}  ${r.size} bytes  ${r.at}${r.task ? `  task ${r.task}` : ''}`));
}));

// ---- integrity ----
program.command('verify').description('check the workspace for damage; non-zero exit if any').action(async () => {
  const o = out();
  try {
    const { verifyWorkspace } = await import('../core/verify.js');
    const report = await verifyWorkspace(await open());
    o.ok(report, [
      `${report.streams} streams, ${report.records} records: ${report.ok ? 'no damage' : 'DAMAGE FOUND'}`,
      ...report.findings.map((f) => `  ${f.severity === 'damage' ? 'DAMAGE ' : 'warning'} ${f.kind}: ${f.path}: ${f.message}`),
    ]);
    if (!report.ok) process.exit(2);
  } catch (err) {
    o.fail(err);
  }
});
program.command('replay').description('rebuild all state from the records and print a summary').action(async () => {
  const o = out();
  try {
    const { replayWorkspace } = await import('../core/replay.js');
    const s = await replayWorkspace(wsDir());
    o.ok(s, [
      `replayed ${s.records} records (${s.events} events) in ${s.streams} streams in ${s.ms} ms`,
      `${s.workstreams} workstreams, ${s.tasks} tasks: ${Object.entries(s.byState).map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}`,
      `model calls recorded: ${s.usage.modelCalls}, cost $${s.usage.costUsd.toFixed(4)}${s.damaged ? `; ${s.damaged} unreadable record(s) skipped (run verify)` : ''}`,
    ]);
  } catch (err) {
    o.fail(err);
  }
});

// ---- the dev pipeline ----
const runCmd = (build: (id: string, ...rest: any[]) => import('../core/inbox-format.js').Command, done: (view: import('../core/model/task.js').TaskView) => string) =>
  act(async (ws, o, id: string, ...rest: unknown[]) => {
    const { runCommand } = await import('../pipeline/run-command.js');
    const view = await runCommand(ws, build(id, ...rest), cliActor());
    o.ok(view, done(view));
  });
program.command('plan <id>').description('print the latest plan (or --version N)').option('--version <n>', 'plan version', int('version'))
  .action(act(async (ws, o, id: string, opts: { version?: number }) => {
    const view = await ws.task(id);
    const plan = opts.version ? view.dev.plans.find((p) => p.version === opts.version) : view.dev.plans.at(-1);
    if (!plan) throw new OrchestraError('NOT_FOUND', opts.version ? `task ${id} has no plan v${opts.version}` : `task ${id} has no plan yet (state: ${view.state})`);
    const text = await ws.readWorkspaceFile(plan.file);
    const status = view.dev.approvedVersion === plan.version ? 'approved' : plan.version === view.dev.plans.at(-1)!.version && view.state === 'planned' ? `awaiting approval: orchestra approve ${id} --version ${plan.version}` : 'superseded';
    o.ok({ ...plan, markdown: text, status }, `${text}\n(${status})`);
  }));
program.command('approve <id>').description('approve a plan version (default: the latest); nothing runs without it').option('--version <n>', 'the version you reviewed', int('version'))
  .action(runCmd((id, opts: { version?: number }) => ({ command: 'approve', task: id, ...(opts.version ? { version: opts.version } : {}) }), (v) => `approved plan v${v.dev.approvedVersion} of ${v.id}; the executor takes it from here`));
program.command('feedback <id> <text>').description('ask the planner for a revised plan')
  .action(runCmd((id, text: string) => ({ command: 'feedback', task: id, text }), (v) => `feedback recorded; plan v${v.dev.plans.length + 1} will follow for ${v.id}`));
program.command('abort <id>').description('stop the task at the next safe point (the worktree is kept)').option('--reason <text>')
  .action(runCmd((id, opts: { reason?: string }) => ({ command: 'abort', task: id, ...(opts.reason ? { reason: opts.reason } : {}) }), (v) => `${v.id} aborted`));
program.command('retry <id>').description('send a failed task back to execution (same plan) or, with --replan, to planning').option('--replan')
  .action(runCmd((id, opts: { replan?: boolean }) => ({ command: 'retry', task: id, replan: Boolean(opts.replan) }), (v) => `${v.id} is ${v.state} again`));

const agent = program.command('agent').description('agents defined as ai/agents/<name>.md');
agent.command('list').action(act(async (ws, o) => {
  const { listAgents } = await import('../pipeline/agents.js');
  const agents = await listAgents(ws);
  o.ok(agents, agents.length ? agents.map((a) => `${a.name.padEnd(16)} ${a.provider}/${a.model}  tools: ${a.tools.join(', ') || 'none'}  - ${a.description}`) : 'no agents');
}));
agent.command('run <name>').requiredOption('--task <id>').action(act(async (ws, o, name: string, opts: { task: string }) => {
  const { runAgent } = await import('../pipeline/agents.js');
  const result = await runAgent(ws, name, opts.task, cliActor());
  o.ok(result, result.output);
  if (!result.ok) process.exitCode = 1;
}));

program.command('schema [name]').description('print the JSON Schema of a format: task, command, record, plan, config')
  .action(async (name?: string) => {
    const o = out();
    try {
      const { PUBLISHED_SCHEMAS, jsonSchema } = await import('../app/schemas.js');
      if (!name) {
        o.ok(Object.keys(PUBLISHED_SCHEMAS), Object.entries(PUBLISHED_SCHEMAS).map(([k, v]) => `${k.padEnd(8)} ${v.about}`));
        return;
      }
      if (!(name in PUBLISHED_SCHEMAS)) throw new OrchestraError('NOT_FOUND', `no schema "${name}" (schemas: ${Object.keys(PUBLISHED_SCHEMAS).join(', ')})`);
      const schema = jsonSchema(name as keyof typeof PUBLISHED_SCHEMAS);
      o.ok(schema, JSON.stringify(schema, null, 2));
    } catch (err) {
      o.fail(err);
    }
  });

program.command('demo').description('offline demo: sample repo, plan, approval, execution, pushed branch (no keys needed)')
  .option('--dir <dir>', 'where to create the demo (default: a new temp directory)')
  .action(async (opts: { dir?: string }) => {
    const o = out();
    try {
      const { runDemo } = await import('../app/demo.js');
      const result = await runDemo({ dir: opts.dir, print: o.json ? () => undefined : (line) => process.stdout.write(line + '\n') });
      if (o.json) o.ok(result);
      process.exit(result.ok ? 0 : 1);
    } catch (err) {
      o.fail(err);
    }
  });

program.command('web').description('serve the web dashboard (127.0.0.1 by default; prints the URL with its access token)')
  .option('--port <n>', 'port (default from config web.port)', int('port'))
  .option('--host <host>', 'interface to listen on (default 127.0.0.1)')
  .action(async (opts: { port?: number; host?: string }) => {
    const o = out();
    try {
      const ws = await open();
      const { startWeb } = await import('../adapters/web/index.js');
      const web = await startWeb(ws, { ...(opts.port !== undefined ? { port: opts.port } : {}), ...(opts.host ? { host: opts.host } : {}) });
      ws.journal.start();
      o.ok({ url: web.url, openUrl: web.openUrl }, `Orchestra dashboard: ${web.openUrl}\n(the task loops run separately: orchestra up)`);
      const stop = async () => { await web.stop(); await ws.journal.stop(); process.exit(0); };
      process.on('SIGINT', () => void stop());
      process.on('SIGTERM', () => void stop());
    } catch (err) {
      o.fail(err);
    }
  });
program.command('telegram').description('run the Telegram bot (TELEGRAM_BOT_TOKEN, TELEGRAM_ALLOWED_USERS)').action(() => runLoops(['telegram']));

program.addOption(new Option('--debug').hideHelp());
program.parseAsync(process.argv).catch((err) => createOutput(false).fail(err));
