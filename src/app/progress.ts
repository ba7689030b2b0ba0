/**
 * What `orchestra up` prints while it runs: one plain line per step per task, as it happens
 * (`01JD0ABCDE… "Fix add": claimed by planner`, `test run 3 red: 2 failing`, `pushed: <link>`).
 *
 * A small consumer of the signal feed: it subscribes `fromNow`, keeps per task the last seq it
 * printed (its checkpoint), and on each signal reads the task's records past that checkpoint,
 * folds the task for its title and prints a line for each event worth one. The formatting
 * (`progressLine`, `countFailures`) is pure; `ProgressReporter` does the reading and printing.
 */
import { isUlid } from '../core/ids.js';
import type { StoredEvent, StreamRecord } from '../core/record.js';
import { streamOfTask } from '../core/paths.js';
import type { Subscription } from '../core/signals.js';
import { forTerminal, plural, shortLine } from '../core/text-sanitize.js';
import type { Workspace } from '../core/workspace.js';
import { parseDevEvent } from '../pipeline/dev-events.js';

export type ProgressFormat = 'text' | 'json';

/** One step of one task, as printed. */
export interface ProgressItem {
  at: string;
  task: string;
  title: string;
  seq: number;
  event: string;
  text: string;
}

/** What a line may need besides the event: the failing-test count read from the run's output. */
export interface ProgressContext {
  failures?: number;
}

/**
 * Failing tests counted from a test run's output: TAP's `# fail N` (node --test, tap), pytest's
 * `N failed`, jest/vitest's `Tests: N failed`, go's `--- FAIL` lines, cargo's `N failed;`.
 * Undefined when the output says nothing recognisable (the line then gives the exit code).
 */
export function countFailures(output: string): number | undefined {
  const last = (re: RegExp) => {
    let found: number | undefined;
    for (const m of output.matchAll(re)) found = Number(m[1]);
    return found;
  };
  const tap = last(/^#\s*fail(?:ed)?\s+(\d+)\s*$/gim);
  if (tap !== undefined) return tap;
  const tapNotOk = output.match(/^not ok \d+/gm);
  const jest = last(/^Tests:\s+(\d+) failed/gm);
  if (jest !== undefined) return jest;
  const cargo = last(/test result: FAILED\. \d+ passed; (\d+) failed/g);
  if (cargo !== undefined) return cargo;
  const pytest = last(/=+ .*?\b(\d+) failed\b.* =+$/gm) ?? last(/^(\d+) failed\b/gm);
  if (pytest !== undefined) return pytest;
  const goFails = output.match(/^\s*--- FAIL: /gm);
  if (goFails) return goFails.length;
  if (tapNotOk) return tapNotOk.length;
  return undefined;
}

const shortId = (id: string) => `${id.slice(0, 10)}…`;
/** The name of a lease owner (`executor@host#123` -> `executor`). */
const ownerName = (owner: unknown) => String(owner ?? '').split('@')[0] || 'someone';

/** The text of one event's line (without the task prefix), or undefined when it gets none. */
export function progressText(taskId: string, event: StoredEvent, ctx: ProgressContext = {}): string | undefined {
  const d = event.data as Record<string, unknown>;
  switch (event.type) {
    case 'task.created':
      return `new task (${shortLine(d.state, 30)})`;
    case 'lease.acquired':
      return `claimed by ${shortLine(ownerName(d.owner), 40)}`;
    case 'lease.expired':
      return `the lease of ${shortLine(ownerName(d.owner), 40)} expired; the next claim resumes`;
    case 'task.moved':
      if (d.to === 'aborted') return `aborted${d.reason ? `: ${shortLine(d.reason, 200)}` : ''}`;
      if (d.to === 'completed') return 'completed';
      return undefined; // the other moves come with their own step event
  }
  const e = parseDevEvent(event);
  if (!e) return undefined;
  switch (e.type) {
    case 'plan.proposed':
      return `plan v${e.data.version} ready: orchestra approve ${taskId} --version ${e.data.version}`;
    case 'plan.feedback':
      return `feedback on plan v${e.data.onVersion}: "${shortLine(e.data.text, 80)}"`;
    case 'round.started':
      return `round ${e.data.round} started on ${shortLine(e.data.branch ?? 'the task branch', 80)} (from ${e.data.onCommit.slice(0, 10)}): "${shortLine(e.data.text, 80)}"`;
    case 'plan.approved':
      return `plan v${e.data.version} approved`;
    case 'exec.started':
      return `executing plan v${e.data.planVersion} on ${e.data.branch}`;
    case 'exec.resumed':
      return `execution resumed (attempt ${e.data.attempt})`;
    case 'setup.ran': {
      if (e.data.source === 'none') return 'setup: none needed';
      const how = e.data.cached ? 'restored from cache' : e.data.passed ? 'installed' : `failed, exit ${e.data.exitCode ?? 'none'}`;
      return `setup: ${shortLine(e.data.command, 80)} (${how})`;
    }
    case 'tests.ran': {
      const { run, passed, timedOut, exitCode } = e.data;
      if (passed) return `test run ${run} green`;
      if (timedOut) return `test run ${run} red: killed at the timeout`;
      if (e.data.aborted) return `test run ${run} stopped`;
      return `test run ${run} red: ${ctx.failures !== undefined && ctx.failures > 0 ? `${ctx.failures} failing` : `exit ${exitCode ?? 'none'}`}`;
    }
    case 'exec.finished':
      return `finished${e.data.files ? ` (${plural(e.data.files.length, 'file')} changed)` : ''}: ${shortLine(e.data.summary, 100)}`;
    case 'exec.stopped':
      return `execution stopped (${shortLine(e.data.reason, 60)})${e.data.patchFile ? `; work saved as ${e.data.patchFile}` : ''}`;
    case 'git.committed':
      return `committed ${e.data.sha.slice(0, 10)}${e.data.created === false ? ' (already there)' : ''}`;
    case 'git.pushed':
      return `pushed: ${e.data.link}`;
    case 'forge.pr-opened':
      return `${e.data.kind === 'gitlab' ? 'merge' : 'pull'} request: ${e.data.url}`;
    case 'forge.pr-failed':
      return `no pull request: ${shortLine(e.data.reason, 200)}`;
    case 'task.failed':
      return `failed: ${shortLine(e.data.reason, 300)}${e.data.patchFile ? ` (work saved as ${e.data.patchFile})` : ''}`;
    case 'abort.requested':
      return 'abort requested';
    case 'retry.requested':
      return `retry requested${e.data.replan ? ' with a new plan' : ''}`;
    default:
      return undefined; // model calls and agent runs: too many or too small for a line each
  }
}

/** The items of the records past a checkpoint (`ctx(seq, index)` supplies what a line needs). */
export function progressItems(task: { id: string; title: string }, records: StreamRecord[], after: number, ctx: (event: StoredEvent) => ProgressContext = () => ({})): ProgressItem[] {
  const items: ProgressItem[] = [];
  for (const record of records) {
    if (record.seq <= after) continue;
    for (const event of record.events) {
      const text = progressText(task.id, event, ctx(event));
      if (text) items.push({ at: record.at, task: task.id, title: task.title, seq: record.seq, event: event.type, text });
    }
  }
  return items;
}

/** One printed line: `01JD0ABCDE… "Fix add": claimed by planner`, or a JSON object. */
export function renderProgress(item: ProgressItem, format: ProgressFormat = 'text'): string {
  if (format === 'json') return JSON.stringify({ at: item.at, kind: 'progress', task: item.task, title: item.title, seq: item.seq, event: item.event, text: item.text });
  // Titles and reasons come from records: never let them drive the terminal or break the line.
  return forTerminal(`${shortId(item.task)} "${shortLine(item.title, 50)}": ${item.text}`).replace(/\n/g, '\\n');
}

/** Prints progress lines of every task that moves while it runs. */
export class ProgressReporter {
  private sub?: Subscription;
  /** Seq already printed per task; before a task's first print, the seq it had when this started. */
  private readonly printed = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private draining?: Promise<void>;

  constructor(private readonly ws: Workspace, private readonly print: (line: string) => void, private readonly format: ProgressFormat = 'text') {}

  async begin(): Promise<void> {
    this.sub = await this.ws.signals.subscribe((name, _seq, previous) => {
      // The seq a task had when this started is what its first change moves on from.
      if (!this.printed.has(name)) this.printed.set(name, previous);
      this.hint(name);
    }, { fromNow: true });
  }

  /** Prints what is still pending (a last look at the signals first), then stops. */
  async end(): Promise<void> {
    await this.ws.signals.scan().catch(() => undefined);
    await this.settle();
    this.sub?.close();
    this.sub = undefined;
  }

  async settle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private hint(name: string): void {
    if (!isUlid(name)) return;
    this.dirty.add(name);
    this.pump();
  }

  /** Reports dirty tasks one at a time; a hint that lands as a pass ends starts the next pass. */
  private pump(): void {
    if (this.draining) return;
    this.draining = (async () => {
      while (this.dirty.size > 0) {
        const id = this.dirty.values().next().value!;
        this.dirty.delete(id);
        await this.report(id).catch(() => undefined);
      }
    })().finally(() => {
      this.draining = undefined;
      if (this.dirty.size > 0) this.pump();
    });
  }

  private async report(id: string): Promise<void> {
    const after = this.printed.get(id) ?? 0;
    const view = await this.ws.findTask(id);
    if (!view) return;
    const { records } = await this.ws.readStream(streamOfTask(id));
    const failures = new Map<string, number | undefined>();
    for (const record of records) {
      if (record.seq <= after) continue;
      for (const event of record.events) {
        const e = event.type === 'tests.ran' ? parseDevEvent(event) : undefined;
        if (e?.type === 'tests.ran' && !e.data.passed) {
          const output = await this.ws.readWorkspaceFile(e.data.file).catch(() => undefined);
          failures.set(e.data.file, output === undefined ? undefined : countFailures(output));
        }
      }
    }
    const items = progressItems(view, records, after, (event) => {
      const file = (event.data as { file?: unknown }).file;
      return event.type === 'tests.ran' && typeof file === 'string' ? { failures: failures.get(file) } : {};
    });
    for (const item of items) {
      try {
        this.print(renderProgress(item, this.format));
      } catch {
        // a closed stdout is not a reason to stop the loops
      }
    }
    this.printed.set(id, Math.max(after, records.at(-1)?.seq ?? after));
  }
}
