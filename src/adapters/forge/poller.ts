/**
 * The forge poller: one pass (`pollOnce`) reads the forge and writes inbox files; it never calls
 * a loop and changes nothing but its own stream and the inbox (plus comments on the forge).
 *   1. Labelled issues: each new one is taken (recorded with the task id it will get), then
 *      submitted as a sealed task file under that id; a crash in between re-submits the same id,
 *      which intake creates once.
 *   2. Comments on the issues it took and on the tasks' pull requests: `/approve vN` by a user in
 *      `forge.allowedUsers` becomes an `approve` command, a mention of the bot by such a user a
 *      `feedback` command, each with a nonce derived from the comment (applied once even if sent
 *      twice); by anyone else nothing but a rate-limited `access.refused` audit record.
 *   3. Back on the issue: the plan when one waits for approval, the result when the task ends.
 * Cost: conditional reads (ETag); a pass whose answers are all 304 appends no record. The pass
 * stops early, to go on at the next one, when the forge asked to wait (rate-limit headers) or
 * failed; nothing read but not yet recorded is lost, it is read again.
 */
import { describeError, isOrchestraError } from '../../core/errors.js';
import type { ForgeConfig } from '../../core/forge-config.js';
import { newId } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import type { TaskView } from '../../core/model/task.js';
import type { Workspace } from '../../core/workspace.js';
import type { Forge, ForgeComment, Thread } from '../../forge/types.js';
import { TERMINAL_DEV_STATES } from '../../pipeline/dev-workstream.js';
import { recordRefusal, RefusalLimiter, submitCommand, submitTask } from '../inbox-port.js';
import { foldForgeState, forgeEvent, forgeStream, type ForgeEvent, type ForgeState } from './state.js';
import { commentAction, forgeActor, isPlainLogin, nonceFor, planComment, resultComment, taskFromIssue } from './text.js';

/** Written into every comment Orchestra posts, so the poller never takes its own words as a request. */
export const OWN_MARK = '<!-- orchestra -->';
const MAX_THREADS = 200;

export interface PollReport {
  issuesTaken: number;
  commands: number;
  refused: number;
  told: number;
  notModified: number;
  /** The pass stopped early: the forge asked to wait, or failed (the reason). */
  stopped?: string;
}

class Stop extends Error {}

export class ForgePoller {
  readonly stream: string;
  private readonly refusals = new RefusalLimiter();

  constructor(
    private readonly ws: Workspace,
    private readonly forge: Forge,
    private readonly opts: { config: ForgeConfig; taskRepo: string; log: Logger },
  ) {
    this.stream = forgeStream(forge.kind, forge.repo);
  }

  private state(): Promise<ForgeState> {
    return this.ws.appendTo(this.stream, foldForgeState, () => null).then((r) => r.state);
  }

  private async record(events: ForgeEvent[], check?: (s: ForgeState) => ForgeEvent[]): Promise<void> {
    await this.ws.appendTo(this.stream, foldForgeState, (s) => {
      const all = [...(check ? check(s) : []), ...events];
      return all.length ? { actor: { kind: 'adapter', name: 'forge' }, events: all } : null;
    });
  }

  /** One forge call, unless the forge asked us to wait; a failure ends the pass. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    const wait = this.forge.readyAt() - Date.now();
    if (wait > 0) throw new Stop(`the forge asked to wait ${Math.ceil(wait / 1000)} s`);
    try {
      return await fn();
    } catch (err) {
      if (isOrchestraError(err, 'NOT_FOUND')) throw err;
      throw new Stop(describeError(err).message);
    }
  }

  async pollOnce(): Promise<PollReport> {
    const report: PollReport = { issuesTaken: 0, commands: 0, refused: 0, told: 0, notModified: 0 };
    try {
      await this.pollIssues(report);
      await this.pollComments(report);
      await this.tell(report);
    } catch (err) {
      if (!(err instanceof Stop)) throw err;
      report.stopped = err.message;
      this.opts.log.warn('forge poll stopped', { repo: this.forge.repo, reason: err.message });
    }
    return report;
  }

  private async pollIssues(report: PollReport): Promise<void> {
    const { config } = this.opts;
    const before = await this.state();
    const res = await this.call(() => this.forge.listLabelledIssues(config.label, before.etags.get('issues')));
    if (res.notModified) {
      report.notModified++;
      return;
    }
    const fresh = res.items.filter((i) => !before.issues.has(i.number));
    // Taken first, with the id the task will get: a second poller or a restart sees it taken.
    if (fresh.length) {
      await this.record([], (s) => fresh.filter((i) => !s.issues.has(i.number)).map((i) => forgeEvent('forge.issue-taken', { issue: i.number, taskId: newId(), url: i.url })));
    }
    const state = await this.state();
    const submitted: ForgeEvent[] = [];
    for (const issue of res.items) {
      const taken = state.issues.get(issue.number);
      if (!taken || taken.submitted) continue;
      if (!(await this.ws.findTask(taken.taskId))) {
        if (!isPlainLogin(issue.author)) continue;
        await submitTask(this.ws, { id: taken.taskId, ...taskFromIssue(issue, this.forge.repo, this.forge.kind, this.opts.taskRepo) }, forgeActor(this.forge.kind, issue.author));
        report.issuesTaken++;
      }
      submitted.push(forgeEvent('forge.issue-submitted', { issue: issue.number }));
    }
    // The ETag only once every listed issue is submitted: a crash before this re-reads the list.
    if (res.etag && res.etag !== state.etags.get('issues')) submitted.push(forgeEvent('forge.etag', { key: 'issues', etag: res.etag }));
    await this.record(submitted);
  }

  /** The threads to read: the issues taken, and the pull requests of tasks that are not archived. */
  private async threads(state: ForgeState): Promise<Array<{ thread: Thread; taskId: string; since?: string }>> {
    const out: Array<{ thread: Thread; taskId: string; since?: string }> = [];
    for (const [number, taken] of state.issues) out.push({ thread: { kind: 'issue', number }, taskId: taken.taskId, since: taken.takenAt });
    const tasks = (await this.ws.tasks()).filter((t) => !t.archived && t.dev?.pullRequest?.repo === this.forge.repo && t.dev.pullRequest.kind === this.forge.kind);
    for (const t of tasks) out.push({ thread: { kind: 'pull', number: t.dev.pullRequest!.number }, taskId: t.id });
    return out.slice(-MAX_THREADS);
  }

  private async pollComments(report: PollReport): Promise<void> {
    const state = await this.state();
    for (const { thread, taskId, since } of await this.threads(state)) {
      const key = `${thread.kind}:${thread.number}`;
      const sinceId = state.lastComment.get(key);
      let res;
      try {
        res = await this.call(() => this.forge.listComments(thread, { etag: state.etags.get(`c:${key}`), ...(sinceId !== undefined ? { sinceId } : {}) }));
      } catch (err) {
        if (isOrchestraError(err, 'NOT_FOUND')) continue;
        throw err;
      }
      if (res.notModified) {
        report.notModified++;
        continue;
      }
      let last = sinceId ?? 0;
      for (const comment of res.items) {
        last = Math.max(last, comment.id);
        if (since && Date.parse(comment.createdAt) < Date.parse(since)) continue; // said before the task existed
        await this.act(comment, thread, taskId, report);
      }
      // Acted first, recorded after: a crash in between acts again with the same nonces (applied once).
      const events: ForgeEvent[] = [];
      if (last !== (sinceId ?? 0)) events.push(forgeEvent('forge.comment-seen', { thread: key, id: last }));
      if (res.etag && res.etag !== state.etags.get(`c:${key}`)) events.push(forgeEvent('forge.etag', { key: `c:${key}`, etag: res.etag }));
      await this.record(events);
    }
  }

  private async act(comment: ForgeComment, thread: Thread, taskId: string, report: PollReport): Promise<void> {
    const { config } = this.opts;
    if (comment.body.includes(OWN_MARK) || comment.author.toLowerCase() === config.bot.toLowerCase()) return;
    const action = commentAction(comment.body, config.bot);
    if (!action || !isPlainLogin(comment.author)) return;
    const actor = forgeActor(this.forge.kind, comment.author);
    if (!config.allowedUsers.some((u) => u.toLowerCase() === comment.author.toLowerCase())) {
      report.refused++;
      if (this.refusals.allow(`${comment.author}:${action.kind}`)) {
        await recordRefusal(this.ws, actor, `forge ${action.kind}`, { reason: 'not in forge.allowedUsers', repo: this.forge.repo, thread: `${thread.kind}:${thread.number}`, comment: comment.id, task: taskId });
      }
      return;
    }
    const nonce = nonceFor(`${this.forge.kind}:${this.forge.repo}:${comment.id}`);
    const command = action.kind === 'approve' ? { command: 'approve' as const, task: taskId, version: action.version } : { command: 'feedback' as const, task: taskId, text: action.text };
    await submitCommand(this.ws, command, actor, { nonce });
    report.commands++;
  }

  /** Plan and result comments on the issues taken, each told once per plan version / per result. */
  private async tell(report: PollReport): Promise<void> {
    const state = await this.state();
    const { config } = this.opts;
    for (const [number, taken] of state.issues) {
      const task = await this.ws.findTask(taken.taskId);
      if (!task || task.archived) continue;
      const thread: Thread = { kind: 'issue', number };
      const plan = task.dev?.plans.at(-1);
      if (task.state === 'planned' && plan && state.told.get(`${task.id}:plan`) !== String(plan.version)) {
        await this.say(thread, planComment(task, config.bot, config.allowedUsers));
        await this.record([forgeEvent('forge.told', { taskId: task.id, what: 'plan', mark: String(plan.version) })]);
        report.told++;
      }
      const result = `${task.state}:${task.dev?.push?.sha ?? ''}`;
      if (TERMINAL_DEV_STATES.has(task.state) && state.told.get(`${task.id}:result`) !== result) {
        await this.say(thread, resultComment(task as TaskView));
        await this.record([forgeEvent('forge.told', { taskId: task.id, what: 'result', mark: result })]);
        report.told++;
      }
    }
  }

  private say(thread: Thread, body: string): Promise<void> {
    return this.call(() => this.forge.postComment(thread, `${body}\n\n${OWN_MARK}`));
  }
}
