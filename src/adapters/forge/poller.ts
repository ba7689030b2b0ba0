/**
 * The forge poller: one pass (`pollOnce`) reads the forge and writes inbox files; it never calls
 * a loop and changes nothing but its own stream and the inbox (plus comments on the forge).
 *   1. Labelled issues (most recently updated first, paged until a page is all known): each new
 *      one is taken (recorded with the task id it will get), then submitted as a sealed task file
 *      under that id; a crash in between re-submits the same id, which intake creates once. With
 *      `forge.issueAuthors: allowed` (default) an issue by anyone not in `allowedUsers` is
 *      recorded as refused (and audited), never taken: the label alone does not spend money.
 *   2. Comments on the issues it took and on the tasks' pull requests: `/approve vN` by a user in
 *      `forge.allowedUsers` becomes an `approve` command, a mention of the bot by such a user a
 *      `feedback` command (each allowed login pinned once to its account id, `forge.user-pinned`,
 *      so a re-registered login is someone else), each with a nonce derived from the comment (applied once even if sent
 *      twice); by anyone else, or when the comment was edited (the forge does not say by whom),
 *      nothing but a rate-limited `access.refused` audit record. Reads start at the last comment
 *      read (id and time), so a thread longer than a page is followed to its end.
 *   3. Back on the issue: the plan when one waits for approval, the result when the task ends.
 *      Intent first (`forge.telling`, one poller wins the append), then the post, then
 *      `forge.told`; an intent left unconfirmed (a crash, a failed answer) is checked on the
 *      thread by the comment's key before it is posted again: no comment is posted twice.
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
const MAX_PINS_PER_PASS = 20;
/** An intent to comment younger than this belongs to a poller still at work (a post times out after 30 s). */
const INTENT_STALE_MS = 120_000;
/** Allowance for the forge's clock against ours when looking for a comment posted after an intent. */
const CLOCK_SKEW_MS = 600_000;

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
  /** This poller's name in its intents: another poller's fresh intent is left alone. */
  private readonly id = newId();

  constructor(
    private readonly ws: Workspace,
    private readonly forge: Forge,
    private readonly opts: { config: ForgeConfig; taskRepo: string; log: Logger; intentStaleMs?: number },
  ) {
    this.stream = forgeStream(forge.kind, forge.repo);
  }

  /** Allowed logins' pinned account ids, as of the last state read. */
  private pins = new Map<string, number>();

  /**
   * In `allowedUsers`, and the account that holds the login is the one it was pinned to (a
   * renamed or deleted account's login re-registered by someone else is not them). Without an id
   * from the forge the login alone decides; without a pin yet (the look-up failed) nobody is.
   */
  private allowed(login: string, id?: number): boolean {
    const name = login.toLowerCase();
    if (!this.opts.config.allowedUsers.some((u) => u.toLowerCase() === name)) return false;
    if (id === undefined) return true;
    return this.pins.get(name) === id;
  }

  /** Whether this author's labelled issue may become a task (config `forge.issueAuthors`). */
  private mayOpen(login: string, id?: number): boolean {
    return isPlainLogin(login) && (this.opts.config.issueAuthors === 'anyone' || this.allowed(login, id));
  }

  /** Pins each allowed login not pinned yet to its account id (once, recorded; a few per pass). */
  private async pinUsers(): Promise<void> {
    const state = await this.state();
    const missing = [...new Set(this.opts.config.allowedUsers.map((u) => u.toLowerCase()))].filter((u) => !state.pins.has(u)).slice(0, MAX_PINS_PER_PASS);
    const pinned: ForgeEvent[] = [];
    for (const login of missing) {
      const id = await this.call(() => this.forge.userId(login));
      if (id !== undefined) pinned.push(forgeEvent('forge.user-pinned', { login, id }));
    }
    if (pinned.length) await this.record([], (s) => pinned.filter((e) => !s.pins.has(String(e.data.login))));
    this.pins = (await this.state()).pins;
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
      await this.pinUsers();
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
    const known = (n: number) => before.issues.has(n) || before.refused.has(n);
    const res = await this.call(() => this.forge.listLabelledIssues(config.label, { etag: before.etags.get('issues'), known }));
    if (res.notModified) {
      report.notModified++;
      return;
    }
    const fresh = res.items.filter((i) => !before.issues.has(i.number));
    const welcome = fresh.filter((i) => this.mayOpen(i.author, i.authorId));
    const strangers = fresh.filter((i) => !this.mayOpen(i.author, i.authorId) && before.refused.get(i.number) !== i.author);
    // Taken first, with the id the task will get: a second poller or a restart sees it taken.
    // A stranger's issue is recorded as refused, so it counts as known and is audited once.
    if (welcome.length || strangers.length) {
      await this.record([], (s) => [
        ...welcome.filter((i) => !s.issues.has(i.number)).map((i) => forgeEvent('forge.issue-taken', { issue: i.number, taskId: newId(), url: i.url })),
        ...strangers.filter((i) => !s.issues.has(i.number) && s.refused.get(i.number) !== i.author).map((i) => forgeEvent('forge.issue-refused', { issue: i.number, author: i.author.slice(0, 200) })),
      ]);
    }
    for (const issue of strangers) {
      report.refused++;
      if (isPlainLogin(issue.author) && this.refusals.allow(`${issue.author}:issue`)) {
        await recordRefusal(this.ws, forgeActor(this.forge.kind, issue.author), 'forge issue', { reason: 'forge.issueAuthors: the author is not in forge.allowedUsers', repo: this.forge.repo, issue: issue.number });
      }
    }
    const state = await this.state();
    const submitted: ForgeEvent[] = [];
    for (const issue of res.items) {
      const taken = state.issues.get(issue.number);
      if (!taken || taken.submitted) continue;
      if (!(await this.ws.findTask(taken.taskId))) {
        if (!this.mayOpen(issue.author, issue.authorId)) continue;
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
      const from = state.lastCommentAt.get(key) ?? since;
      let res;
      try {
        res = await this.call(() => this.forge.listComments(thread, { etag: state.etags.get(`c:${key}`), ...(sinceId !== undefined ? { sinceId } : {}), ...(from ? { since: from } : {}) }));
      } catch (err) {
        if (isOrchestraError(err, 'NOT_FOUND')) continue;
        throw err;
      }
      if (res.notModified) {
        report.notModified++;
        continue;
      }
      let last = sinceId ?? 0;
      let lastAt: string | undefined;
      for (const comment of res.items) {
        if (comment.id > last) [last, lastAt] = [comment.id, comment.createdAt];
        if (since && Date.parse(comment.createdAt) < Date.parse(since)) continue; // said before the task existed
        await this.act(comment, thread, taskId, report);
      }
      // Acted first, recorded after: a crash in between acts again with the same nonces (applied once).
      const events: ForgeEvent[] = [];
      if (last !== (sinceId ?? 0)) events.push(forgeEvent('forge.comment-seen', { thread: key, id: last, ...(lastAt && Number.isFinite(Date.parse(lastAt)) ? { at: lastAt.slice(0, 100) } : {}) }));
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
    // An edited comment's text may be someone else's (a collaborator can edit any comment).
    const edited = Date.parse(comment.updatedAt) > Date.parse(comment.createdAt);
    if (edited || !this.allowed(comment.author, comment.authorId)) {
      report.refused++;
      if (this.refusals.allow(`${comment.author}:${action.kind}`)) {
        const reason = edited ? 'the comment was edited after it was written (post a new one)' : this.allowed(comment.author) ? 'the login belongs to another account than the one pinned for forge.allowedUsers' : 'not in forge.allowedUsers';
        await recordRefusal(this.ws, actor, `forge ${action.kind}`, { reason, repo: this.forge.repo, thread: `${thread.kind}:${thread.number}`, comment: comment.id, task: taskId });
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
        if (await this.tellOnce(thread, task.id, 'plan', String(plan.version), () => planComment(task, config.bot, config.allowedUsers))) report.told++;
      }
      const result = `${task.state}:${task.dev?.push?.sha ?? ''}`;
      if (TERMINAL_DEV_STATES.has(task.state) && state.told.get(`${task.id}:result`) !== result) {
        if (await this.tellOnce(thread, task.id, 'result', result, () => resultComment(task as TaskView))) report.told++;
      }
    }
  }

  /**
   * Posts one comment at most once: the intent is appended first (re-checked against the state,
   * so of two pollers one wins), and an earlier unconfirmed intent (a crash, or an answer lost
   * after the forge took the post) is looked up on the thread by the comment's key first.
   * Another poller's intent younger than INTENT_STALE_MS is left to it.
   */
  private async tellOnce(thread: Thread, taskId: string, what: 'plan' | 'result', mark: string, body: () => string): Promise<boolean> {
    const key = `${taskId}:${what}`;
    const stale = this.opts.intentStaleMs ?? INTENT_STALE_MS;
    let mine = false;
    let prior: { at: string } | undefined;
    await this.record([], (s) => {
      mine = false;
      prior = undefined;
      if (s.told.get(key) === mark) return [];
      const intent = s.telling.get(key);
      if (intent?.mark === mark) {
        if (intent.by !== this.id && Date.now() - Date.parse(intent.at) < stale) return [];
        prior = intent;
      }
      mine = true;
      return [forgeEvent('forge.telling', { taskId, what, mark, by: this.id })];
    });
    if (!mine) return false;
    const tag = `<!-- orchestra:${what} ${taskId} ${mark} -->`;
    if (!(prior && (await this.alreadySaid(thread, tag, prior.at)))) await this.say(thread, `${body()}\n\n${OWN_MARK}\n${tag}`);
    await this.record([forgeEvent('forge.told', { taskId, what, mark })]);
    return true;
  }

  /** Whether the bot already posted the comment with this key on the thread since `at`. */
  private async alreadySaid(thread: Thread, tag: string, at: string): Promise<boolean> {
    const since = new Date(Date.parse(at) - CLOCK_SKEW_MS).toISOString();
    const res = await this.call(() => this.forge.listComments(thread, { since }));
    const bot = this.opts.config.bot.toLowerCase();
    return !res.notModified && res.items.some((c) => c.author.toLowerCase() === bot && c.body.includes(tag));
  }

  private say(thread: Thread, body: string): Promise<void> {
    return this.call(() => this.forge.postComment(thread, `${body}\n\n${OWN_MARK}`));
  }
}
