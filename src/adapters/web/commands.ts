import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Actor } from '../../core/actor.js';
import { isUlid } from '../../core/ids.js';
import type { Command } from '../../core/inbox-format.js';
import type { Logger } from '../../core/log.js';
import type { Workspace } from '../../core/workspace.js';
import { describeError } from '../../core/errors.js';
import { DEV_WORKSTREAM } from '../../pipeline/dev-workstream.js';
import type { Submission } from '../../pipeline/rate-limit.js';
import type { DoorLimits } from '../rate-limited.js';
import { checkRepoSpec } from '../../pipeline/target.js';
import { checkTaskCommands } from '../../core/security-profiles.js';
import { submitCommand, submitTask } from '../inbox-port.js';
import { HttpError, JSON_TYPE, send, wantsJson } from './http.js';

/**
 * The POST routes, already authenticated and checked for CSRF: a new task, and the four task
 * commands. They only write inbox files through the inbox port; intake applies them.
 */
export async function post(ws: Workspace, log: Logger, req: IncomingMessage, res: ServerResponse, path: string, form: Record<string, string>, actor: Actor, limits: DoorLimits): Promise<void> {
  const json = wantsJson(req);
  const done = (message: string, location: string, extra: Record<string, unknown> = {}) => {
    if (json) return send(res, 202, JSON_TYPE, JSON.stringify({ ok: true, message, ...extra }));
    res.writeHead(303, { location }).end();
  };
  const text = (key: string, max: number) => {
    const value = (form[key] ?? '').trim();
    if (value.length > max) throw new HttpError(400, `${key} is too long (at most ${max} characters)`);
    return value;
  };

  if (path === '/tasks') {
    const title = text('title', 300);
    const repo = text('repo', 1000);
    if (!title) throw new HttpError(400, 'A task needs a title.');
    if (!repo) throw new HttpError(400, 'A task needs a repository.');
    await saidAtOnce(limits, actor, { kind: 'task' });
    // Checked at submission (without the network), so a typo is said now, not when the task fails.
    await checkRepoSpec(ws, repo).catch((err) => {
      throw new HttpError(400, describeError(err).message);
    });
    const fields: Record<string, string> = { repo };
    const base = text('base', 200);
    const test = text('test', 2000);
    if (base) fields.base = base;
    if (test) fields.test = test;
    // The intake refuses it too; said here, the person sees the rule at once instead of a silent drop.
    try {
      checkTaskCommands(ws.config, fields, actor);
    } catch (err) {
      throw new HttpError(400, describeError(err).message);
    }
    const { taskId } = await submitTask(ws, { title, description: text('description', 200_000), workstream: DEV_WORKSTREAM, fields }, actor);
    log.info('task submitted', { task: taskId, title });
    return done(`Task submitted: it appears in the list once intake records it.`, '/', { taskId });
  }

  const m = /^\/tasks\/([^/]+)\/(approve|feedback|abort|retry)$/.exec(path);
  if (!m) throw new HttpError(404, 'There is no such action.');
  const [id, action] = [m[1]!, m[2]!];
  if (!isUlid(id) || !(await ws.findTask(id))) throw new HttpError(404, `There is no task ${id}.`);
  const { command, message } = taskCommand(id, action, form, text);
  await saidAtOnce(limits, actor, { kind: 'command', command });
  await submitCommand(ws, command, actor);
  log.info('command submitted', { command: command.command, task: id });
  return done(message, `/tasks/${id}`);
}

/**
 * A rate limit the actor has reached, said now as 429 instead of after intake refuses the file
 * (a check only: intake's check is the one that counts and records).
 */
async function saidAtOnce(limits: DoorLimits, actor: Actor, submission: Submission): Promise<void> {
  const refusal = await limits.refusal(actor, submission);
  if (refusal) throw new HttpError(429, refusal);
}

/** The inbox command a task action's form asks for, and what to tell the person. */
function taskCommand(id: string, action: string, form: Record<string, string>, text: (key: string, max: number) => string): { command: Command; message: string } {
  switch (action) {
    case 'approve': {
      const version = form.version ? Number(form.version) : undefined;
      if (version !== undefined && !(Number.isInteger(version) && version > 0)) throw new HttpError(400, 'The plan version must be a positive whole number.');
      return {
        command: { command: 'approve', task: id, ...(version ? { version } : {}) },
        message: `Approval of ${version ? `plan v${version}` : 'the latest plan'} sent.`,
      };
    }
    case 'feedback': {
      const feedback = text('text', 20_000);
      if (!feedback) throw new HttpError(400, 'Feedback needs some text.');
      return { command: { command: 'feedback', task: id, text: feedback }, message: 'Feedback sent: the planner will make a new version (on a completed task: the next round, on its branch).' };
    }
    case 'abort': {
      const reason = text('reason', 2000);
      return { command: { command: 'abort', task: id, ...(reason ? { reason } : {}) }, message: 'Abort requested.' };
    }
    default: {
      const replan = ['true', 'on', '1'].includes(form.replan ?? '');
      return { command: { command: 'retry', task: id, replan }, message: replan ? 'Retry with a new plan requested.' : 'Retry requested.' };
    }
  }
}
