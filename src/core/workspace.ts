import { existsSync, promises as fs } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { loadConfig, writeDefaultConfig, type Config } from './config.js';
import { OrchestraError } from './errors.js';
import { createExclusive, exists, readdirSafe } from './fsutil.js';
import { isSlug, isTaskName } from './ids.js';
import { git, GitJournal } from './journal.js';
import { foldTask, workstreamOfTask, type TaskView, type TransitionCheck } from './model/task.js';
import { foldWorkstream, transitionCheck, type WorkstreamView } from './model/workstream.js';
import { AUDIT_STREAM, streamOfTask, streamOfWorkstream, WorkspacePaths } from './paths.js';
import { AUDIT_SIGNAL, SHARED_SIGNAL, SignalFeed } from './signals.js';
import { OpenTaskIndex } from './open-tasks.js';
import type { StreamRecord } from './record.js';
import { listTaskIds, readGeneration, StreamStore, type RecordDraft, type StreamState } from './stream-store.js';
import { workspaceEnv } from './environment.js';
import { ALWAYS_ACCEPTED, SYNC_GENERATION_FILE, type Acceptance } from './acceptance.js';

const GITIGNORE = ['# ephemeral state and the drop folder never enter history', '.orchestra/', 'inbox/', '.tmp-*', ''].join('\n');
const MAX_CONFLICT_RETRIES = 200;

export function resolveWorkspaceDir(flag?: string): string {
  return resolve(flag ?? workspaceEnv() ?? 'workspace');
}

/** Decides what to append given the current state; null means "nothing to do". */
export type Decide<S> = (state: S) => RecordDraft | null;

/**
 * The store API: every writer (CLI, loops, adapters through the inbox) reads and appends here.
 * State is never stored, only folded from records.
 */
/** A user's hold on the workspace's open-task index (see open-tasks.ts). */
export interface OpenTasksHandle {
  views(): Promise<TaskView[]>;
  /** Tasks in the workspace (open + settled) as the index knows them; undefined before its first pass. */
  count(): number | undefined;
  close(): void;
}

export class Workspace {
  readonly paths: WorkspacePaths;
  readonly store: StreamStore;
  readonly journal: GitJournal;
  /** Streams that grew, in this process or another: see signals.ts. */
  readonly signals: SignalFeed;
  private readonly views = new Map<string, { state: StreamState; check?: TransitionCheck; view: TaskView | undefined }>();
  private readonly checks = new Map<string, { state: StreamState; check: TransitionCheck }>();
  private readonly workstreamViews = new Map<string, { state: StreamState; view: WorkstreamView | undefined }>();
  private openIndex?: OpenTaskIndex;
  private openUsers = 0;
  /** True once this process appended a record: only then does a one-shot writer need to commit. */
  wrote = false;
  /** Whether a claim counts yet: the sync layer installs its own (acceptance.ts). */
  acceptance: Acceptance = ALWAYS_ACCEPTED;
  /** Set while the sync layer rewrites unaccepted records: appends of this process wait for it. */
  private rewriting?: Promise<unknown>;
  private appending = 0;

  private constructor(root: string, readonly config: Config) {
    this.paths = new WorkspacePaths(root);
    this.store = new StreamStore(this.paths, { fsync: config.fsync, maxRecordBytes: config.storage.maxRecordBytes });
    this.journal = new GitJournal(this.paths, config);
    this.signals = new SignalFeed(this.paths.signals, this.paths.signalLog, config.loops.scanIntervalMs);
    // A clone that syncs (spec §20) may see unaccepted records renumbered by another process.
    const generation = join(this.paths.runtime, SYNC_GENERATION_FILE);
    if (existsSync(generation)) this.store.watchGeneration(generation);
    this.store.onAppend((record) => {
      this.wrote = true;
      this.journal.markFile(this.store.recordPath(record.stream, record.seq));
      this.signal(record);
    });
  }

  static async open(root: string): Promise<Workspace> {
    const config = await loadConfig(new WorkspacePaths(root).config);
    return new Workspace(root, config);
  }

  /** Creates the layout, git repo and default config; harmless when run again. */
  static async init(root: string): Promise<{ workspace: Workspace; created: boolean }> {
    const paths = new WorkspacePaths(root);
    await fs.mkdir(root, { recursive: true });
    const created = !(await exists(paths.config));
    for (const dir of [paths.inbox, paths.rejected, paths.tasks, paths.workstreams, paths.signals, paths.heartbeats, paths.intake]) {
      await fs.mkdir(dir, { recursive: true });
    }
    if (created) await writeDefaultConfig(paths.config);
    const workspace = await Workspace.open(root);
    if (!(await exists(join(root, '.git')))) await git(paths, workspace.config, ['init', '-q', '-b', 'main']);
    if (!(await exists(join(root, '.gitignore')))) {
      await fs.writeFile(join(root, '.gitignore'), GITIGNORE);
      await git(paths, workspace.config, ['add', '.gitignore', 'orchestra.json']);
      await git(paths, workspace.config, ['commit', '-q', '--no-verify', '-m', 'workspace initialised', '-m', 'layout, .gitignore and default config']);
    }
    return { workspace, created };
  }

  private signal(record: StreamRecord): void {
    if (record.stream.startsWith('tasks/')) void this.signals.write(record.stream.slice('tasks/'.length), record.seq);
    else if (record.stream === AUDIT_STREAM) void this.signals.write(AUDIT_SIGNAL, record.seq);
    else void this.signals.write(SHARED_SIGNAL, Date.now());
  }


  // ---- reading ----

  /** `list`: see StreamStore.read (verify wants what only a listing shows). */
  async readStream(stream: string, opts: { list?: boolean } = {}): Promise<StreamState> {
    return this.store.read(stream, opts);
  }

  async findTask(id: string, scan?: Map<string, StreamState>): Promise<TaskView | undefined> {
    if (!isTaskName(id)) return undefined;
    const state = await this.store.read(streamOfTask(id));
    return this.foldTaskState(state, await this.transitionsOf(state, scan));
  }

  /** The state map check of the task's workstream (undefined when the workstream has no records). */
  private async transitionsOf(task: StreamState, scan?: Map<string, StreamState>): Promise<TransitionCheck | undefined> {
    const name = workstreamOfTask(task.records);
    if (!name || !isSlug(name)) return undefined;
    // Within one scan of all tasks a workstream is read once (not once per task).
    const state = scan?.get(name) ?? (await this.store.read(streamOfWorkstream(name)));
    scan?.set(name, state);
    if (state.records.length === 0) return undefined;
    const cached = this.checks.get(name);
    if (cached && cached.state === state) return cached.check;
    const check = transitionCheck(state.records);
    this.checks.set(name, { state, check });
    return check;
  }

  /**
   * The task view of a stream state. The store hands back the same state object until the stream
   * grows, and the workstream's check object until its map changes, so a view folded from both
   * stays valid: scans of unchanged tasks and the optimistic appends skip folding.
   */
  private foldTaskState(state: StreamState, check: TransitionCheck | undefined): TaskView | undefined {
    const cached = this.views.get(state.stream);
    // A changed state map (a new workstream record) re-folds the task too: moves it allows or forbids differ.
    if (cached && cached.state === state && cached.check === check) return cached.view;
    const view = foldTask(state.records, check);
    this.views.set(state.stream, { state, check, view });
    return view;
  }

  async task(id: string): Promise<TaskView> {
    const view = await this.findTask(id);
    if (!view) throw new OrchestraError('NOT_FOUND', `no task with id ${id}`);
    return view;
  }

  async taskIds(): Promise<string[]> {
    return (await listTaskIds(this.paths)).sort();
  }

  /** Every task, each folded from its records. */
  async tasks(): Promise<TaskView[]> {
    const views: TaskView[] = [];
    const scan = new Map<string, StreamState>();
    for (const id of await this.taskIds()) {
      const view = await this.findTask(id, scan);
      if (view) views.push(view);
    }
    return views;
  }

  /**
   * The tasks that can still change state (not archived, not in a state without exits): what the
   * loops' periodic scans read, at O(open tasks) after the first pass (see open-tasks.ts). The
   * index follows the signal feed while at least one user holds it; `close()` lets it go.
   */
  openTasks(): OpenTasksHandle {
    this.openIndex ??= new OpenTaskIndex(this, OpenTaskIndex.pathIn(this.paths.runtime));
    const index = this.openIndex;
    this.openUsers++;
    let closed = false;
    return {
      views: () => index.views(),
      count: () => index.count(),
      close: () => {
        if (closed) return;
        closed = true;
        if (--this.openUsers === 0 && this.openIndex === index) {
          index.close();
          this.openIndex = undefined;
        }
      },
    };
  }

  /** Archived, or in a state its workstream's map gives no way out of: no loop acts on it again. */
  async isSettled(view: TaskView): Promise<boolean> {
    if (view.archived) return true;
    const workstream = await this.findWorkstream(view.workstream);
    const exits = workstream?.states[view.state];
    return exits !== undefined && (exits.length === 0 || workstream!.settledStates?.includes(view.state) === true);
  }

  /** Drops a task's records and view from this process's caches (a settled task, for memory). */
  forget(id: string): void {
    this.views.delete(streamOfTask(id));
    this.store.forget(streamOfTask(id));
  }

  async workstreamSeq(name: string): Promise<number> {
    return isSlug(name) ? (await this.store.read(streamOfWorkstream(name))).lastSeq : 0;
  }

  syncGeneration(): string {
    return readGeneration(join(this.paths.runtime, SYNC_GENERATION_FILE));
  }

  grewPast(id: string, seq: number): boolean {
    return isTaskName(id) && this.store.hasRecordAfter(streamOfTask(id), seq);
  }

  async findWorkstream(name: string): Promise<WorkstreamView | undefined> {
    if (!isSlug(name)) return undefined;
    const state = await this.store.read(streamOfWorkstream(name));
    const cached = this.workstreamViews.get(name);
    if (cached && cached.state === state) return cached.view;
    const view = foldWorkstream(state.records);
    this.workstreamViews.set(name, { state, view });
    return view;
  }

  async workstream(name: string): Promise<WorkstreamView> {
    const view = await this.findWorkstream(name);
    if (!view) throw new OrchestraError('NOT_FOUND', `no workstream named "${name}" (see: orchestra workstream list)`);
    return view;
  }

  async workstreams(): Promise<WorkstreamView[]> {
    const views: WorkstreamView[] = [];
    for (const name of (await readdirSafe(this.paths.workstreams)).sort()) {
      const view = await this.findWorkstream(name);
      if (view) views.push(view);
    }
    return views;
  }

  // ---- writing ----

  /**
   * Optimistic append: fold, decide, append at the next position; if another writer took it,
   * fold again and decide again. `decide` may throw (an invalid transition, a lost lease).
   */
  async appendTo<S>(stream: string, fold: (s: StreamState) => S, decide: Decide<S>): Promise<{ state: S; record?: StreamRecord }> {
    while (this.rewriting) await this.rewriting.catch(() => undefined);
    this.appending++;
    try {
      return await this.appendOnce(stream, fold, decide);
    } finally {
      this.appending--;
    }
  }

  /**
   * Runs `fn` while no append of this process is between its read and its write (sync renumbers
   * unaccepted records under it: a decision taken on the old numbering must not land after it).
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.rewriting) await this.rewriting.catch(() => undefined);
    const run = (async () => {
      while (this.appending > 0) await new Promise((r) => setTimeout(r, 2));
      return fn();
    })();
    this.rewriting = run;
    try {
      return await run;
    } finally {
      this.rewriting = undefined;
    }
  }

  private async appendOnce<S>(stream: string, fold: (s: StreamState) => S, decide: Decide<S>): Promise<{ state: S; record?: StreamRecord }> {
    for (let i = 0; i < MAX_CONFLICT_RETRIES; i++) {
      const raw = await this.store.read(stream);
      const state = fold(raw);
      const draft = decide(state);
      if (!draft) return { state };
      try {
        const record = await this.store.append(stream, raw.lastSeq, draft);
        return { state: fold(await this.store.read(stream)), record };
      } catch (err) {
        if (err instanceof OrchestraError && err.code === 'CONFLICT') {
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * i)));
          continue;
        }
        throw err;
      }
    }
    throw new OrchestraError('CONFLICT', `stream ${stream} is too busy: gave up after ${MAX_CONFLICT_RETRIES} attempts`);
  }

  async appendToTask(id: string, decide: Decide<TaskView | undefined>): Promise<{ view?: TaskView; record?: StreamRecord }> {
    const check = await this.transitionsOf(await this.store.read(streamOfTask(id)));
    const { state, record } = await this.appendTo(streamOfTask(id), (s) => this.foldTaskState(s, check), decide);
    return { view: state, record };
  }

  /**
   * Writes an immutable file among a task's records (a plan, test output, a patch) and returns
   * its path relative to the workspace. Re-writing the same name with the same content is a
   * no-op. Different content under a taken name is a CONFLICT, unless `onTaken: 'newName'`: a
   * step re-run after its holder died (the file written, the event not) then writes
   * `<name>-try2`, `-try3`, ... and its event names that file.
   */
  async writeTaskFile(taskId: string, name: string, content: string | Buffer, opts: { onTaken?: 'conflict' | 'newName' } = {}): Promise<string> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/.test(name)) throw new OrchestraError('INVALID_INPUT', `bad record file name: ${name}`);
    const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    for (let n = 1; n <= 100; n++) {
      const candidate = n === 1 ? name : `${stem}-try${n}${ext}`;
      const path = join(this.paths.taskRecords(taskId), candidate);
      if ((await createExclusive(path, bytes, { fsync: this.config.fsync })) || (await fs.readFile(path)).equals(bytes)) {
        this.journal.markFile(path);
        return relative(this.paths.root, path);
      }
      if (opts.onTaken !== 'newName') break;
    }
    throw new OrchestraError('CONFLICT', `record file ${name} of task ${taskId} already exists with other content`);
  }

  async readWorkspaceFile(relative: string): Promise<string> {
    const full = resolve(this.paths.root, relative);
    if (!full.startsWith(this.paths.root + '/')) throw new OrchestraError('INVALID_INPUT', `path leaves the workspace: ${relative}`);
    try {
      return await fs.readFile(full, 'utf8');
    } catch {
      throw new OrchestraError('NOT_FOUND', `no record file ${relative}`);
    }
  }
}
