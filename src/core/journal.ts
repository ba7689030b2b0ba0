import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Backoff } from './backoff.js';
import { commitMessage, describeFiles } from './commit-text.js';
import type { Config } from './config.js';
import { OrchestraError } from './errors.js';
import { TEMP_PREFIX, writeAtomic } from './fsutil.js';
import { pidAlive } from './presence.js';
import { CONFIG_PATHS, RECORD_DIRS, type WorkspacePaths } from './paths.js';

export { commitMessage, summarizeEvent } from './commit-text.js';

const STALE_LOCK_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;
/** How often the committer lists every record directory anyway (a safety net for unmarked files). */
const FULL_SCAN_MS = 5 * 60_000;

/** Runs git in the workspace repo with a fixed identity so it works on machines without git config. */
export async function git(paths: WorkspacePaths, config: Config, args: string[], input?: string) {
  // Loaded on first use: read-only commands never run git, and execa costs ~60 ms to import.
  const { execa } = await import('execa');
  const result = await execa('git', ['-c', `user.name=${config.git.author.name}`, '-c', `user.email=${config.git.author.email}`, '-c', 'commit.gpgsign=false', ...args], {
    cwd: paths.root,
    input,
    reject: false,
    stripFinalNewline: true,
  });
  if (result.exitCode !== 0) {
    throw new OrchestraError('GIT_ERROR', `git ${args[0]} failed in the workspace: ${String(result.stderr || result.stdout).trim().slice(0, 500)}`);
  }
  return String(result.stdout);
}


/**
 * The one writer of the workspace repo. Every process that writes records may commit, but only
 * while it holds the committer lock, so git never sees two writers (no index.lock fights).
 * Only untracked record files are ever staged: a commit can add records, never change or
 * delete one. Config (orchestra.json, ai/) is committed whatever the change: it is not a record.
 */
export class GitJournal {
  private timer?: NodeJS.Timeout;
  private holding = false;
  private running?: Promise<number>;
  /** Task directories written since the last commit (by this process, or signalled by others). */
  private readonly dirtyTasks = new Set<string>();
  /** Anything written since the last commit (a committer that runs with no writes spawns no git). */
  private dirty = true;
  /**
   * When the last full scan of the record directories ran. Only a running committer (`start`)
   * scans everything (at its first commit, then every FULL_SCAN_MS); a one-shot writer (`flush`,
   * the CLI) knows what it wrote and lists only that.
   */
  private lastFullScan = Number.POSITIVE_INFINITY;
  private unsubscribe?: () => void;
  /** When the oldest write not yet committed was noted (see lagMs). */
  private pendingSince?: number;

  constructor(private readonly paths: WorkspacePaths, private readonly config: Config) {}

  /** Tries to hold the committer lock; true if this process holds it now. */
  async acquire(): Promise<boolean> {
    const lock = this.paths.committerLock;
    const mine = JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() });
    if (this.holding) {
      const current = await fs.readFile(lock, 'utf8').catch(() => '');
      if (current.includes(`"pid":${process.pid},`)) {
        await writeAtomic(lock, mine);
        return true;
      }
      this.holding = false;
    }
    try {
      await fs.writeFile(lock, mine, { flag: 'wx' });
      this.holding = true;
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        await fs.mkdir(this.paths.runtime, { recursive: true });
        return this.acquire();
      }
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await this.lockIsStale()) {
      // rename is atomic: of several processes seeing the same stale lock, one moves it away.
      const aside = `${lock}.stale-${process.pid}`;
      try {
        await fs.rename(lock, aside);
        await fs.unlink(aside);
      } catch {
        return false;
      }
      return this.acquire();
    }
    return false;
  }

  private async lockIsStale(): Promise<boolean> {
    try {
      const [text, stat] = await Promise.all([fs.readFile(this.paths.committerLock, 'utf8'), fs.stat(this.paths.committerLock)]);
      const holder = JSON.parse(text) as { pid: number; host: string };
      if (holder.host === hostname() && !pidAlive(holder.pid)) return true;
      return Date.now() - stat.mtimeMs > STALE_LOCK_MS;
    } catch {
      return true;
    }
  }

  async release(): Promise<void> {
    if (!this.holding) return;
    this.holding = false;
    const current = await fs.readFile(this.paths.committerLock, 'utf8').catch(() => '');
    if (current.includes(`"pid":${process.pid},`)) await fs.unlink(this.paths.committerLock).catch(() => undefined);
  }

  /**
   * Notes that a task's directory has new files: the next commit lists only such directories
   * (plus the small shared ones), so its cost follows what changed, not the workspace's size.
   */
  markTask(taskId: string): void {
    this.dirtyTasks.add(taskId);
    this.dirty = true;
    this.pendingSince ??= Date.now();
  }

  /** Notes a write outside the task directories (audit, workstreams, artifacts, prompts). */
  markShared(): void {
    this.dirty = true;
    this.pendingSince ??= Date.now();
  }

  /**
   * Commit lag: how long the oldest write this committer knows of has waited for a commit (0
   * when none waits); undefined while another process holds the committer lock (it commits).
   */
  lagMs(now = Date.now()): number | undefined {
    if (!this.holding) return undefined;
    return this.pendingSince === undefined ? 0 : Math.max(0, now - this.pendingSince);
  }

  /** Also learn of other processes' appends (the signal feed: a task id, or undefined for a shared stream). */
  follow(subscribe: (onWrite: (taskId: string | undefined) => void) => Promise<() => void>): void {
    void subscribe((taskId) => (taskId ? this.markTask(taskId) : this.markShared())).then((close) => (this.unsubscribe = close));
  }

  /** Commits every new record file in one commit. Returns how many files were committed. */
  async commitPending(): Promise<number> {
    if (this.running) return this.running;
    this.running = this.doCommit().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Runs `fn` while this process makes no commit (sync moves HEAD and the index under it). The
   * caller must hold the committer lock, so no other process commits either.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running) await this.running.catch(() => 0);
    const run = fn();
    this.running = run.then(() => 0, () => 0).finally(() => (this.running = undefined));
    return run;
  }

  /** The next commit lists every record directory (files written under another HEAD are untracked again). */
  scanAll(): void {
    this.lastFullScan = 0;
    this.dirty = true;
  }

  /**
   * Where new record files can be: the task directories marked since the last commit and the
   * shared directories (small); every FULL_SCAN_MS (and at the first commit of a process) all of
   * them, so a file written without a mark (a crash between write and mark) is still committed.
   */
  private fullScanDue(): boolean {
    return this.lastFullScan === 0 || Date.now() - this.lastFullScan >= FULL_SCAN_MS;
  }

  private scope(): string[] {
    if (this.fullScanDue()) {
      this.lastFullScan = Date.now();
      this.dirtyTasks.clear();
      return [...RECORD_DIRS];
    }
    const tasks = [...this.dirtyTasks].map((id) => `tasks/${id}`);
    this.dirtyTasks.clear();
    return [...RECORD_DIRS.filter((d) => d !== 'tasks'), ...tasks];
  }

  private async doCommit(): Promise<number> {
    if (!this.dirty && !this.fullScanDue()) return 0;
    this.dirty = false;
    const since = this.pendingSince;
    this.pendingSince = undefined;
    try {
      return await this.commitScope();
    } catch (err) {
      if (since !== undefined) this.pendingSince = Math.min(since, this.pendingSince ?? since);
      throw err;
    }
  }

  private async commitScope(): Promise<number> {
    const notTemp = (f: string) => f && !f.split('/').some((part) => part.startsWith(TEMP_PREFIX));
    const scope = this.scope();
    let listed: string;
    try {
      listed = await git(this.paths, this.config, ['ls-files', '--others', '--exclude-standard', '-z', '--', ...scope]);
    } catch (err) {
      this.lastFullScan = 0; // the marks were taken: make the next try a full scan
      this.dirty = true;
      throw err;
    }
    const records = listed.split('\0').filter(notTemp);
    // Config (orchestra.json, ai/ overrides) is not a record: new, edited and removed files all go in.
    const changed = await git(this.paths, this.config, ['ls-files', '--others', '--modified', '--deleted', '--exclude-standard', '-z', '--', ...CONFIG_PATHS]);
    const config = [...new Set(changed.split('\0').filter(notTemp))];
    if (records.length === 0 && config.length === 0) return 0;
    await this.clearStaleIndexLock();
    // update-index takes exact paths: `git add <pathspecs>` matches every pathspec against every
    // path, which is quadratic and took tens of seconds for a few thousand new records.
    // Records are only ever added (never --remove): a commit cannot change or delete one.
    if (records.length > 0) await git(this.paths, this.config, ['update-index', '--add', '-z', '--stdin'], records.join('\0'));
    if (config.length > 0) await git(this.paths, this.config, ['update-index', '--add', '--remove', '-z', '--stdin'], config.join('\0'));
    const files = [...records, ...config];
    const { title, body } = await describeFiles(this.paths, files);
    // Plumbing, not `git commit`: commit refreshes (lstats) every index entry, which grows with the
    // workspace; write-tree reuses the cached trees of unchanged directories. The message goes
    // through stdin, never argv (a NUL byte in an argument makes spawning fail), every line reduced
    // to printable single-line text.
    const tree = await git(this.paths, this.config, ['write-tree']);
    const parent = await git(this.paths, this.config, ['rev-parse', '-q', '--verify', 'HEAD']).catch(() => '');
    const commit = await git(this.paths, this.config, ['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-F', '-'], commitMessage(title, body));
    await git(this.paths, this.config, ['update-ref', '-m', 'orchestra: records', 'HEAD', commit, ...(parent ? [parent] : [])]);
    return files.length;
  }

  private async clearStaleIndexLock(): Promise<void> {
    const indexLock = join(this.paths.root, '.git', 'index.lock');
    const stat = await fs.stat(indexLock).catch(() => undefined);
    // We hold the committer lock, so an index.lock older than a few seconds is a crash leftover.
    if (stat && Date.now() - stat.mtimeMs > 5000) await fs.unlink(indexLock).catch(() => undefined);
  }



  /**
   * Commits every `intervalMs` while this process holds (or can take) the committer lock.
   * Repeated failures (a full disk, a read-only workspace) back off exponentially up to
   * MAX_BACKOFF_MS, and `onError` is called once per try, so once per backoff step.
   */
  start(intervalMs = this.config.git.commitIntervalMs, onError: (err: unknown, retry: { failures: number; waitMs: number }) => void = () => undefined): void {
    const backoff = new Backoff(Math.max(intervalMs, 250), MAX_BACKOFF_MS);
    this.lastFullScan = 0; // the first commit of a committer lists everything
    // A split index: each commit rewrites only the small part that changed, not every entry.
    void git(this.paths, this.config, ['config', 'core.splitIndex', 'true']).catch(() => undefined);
    const tick = async () => {
      let wait = intervalMs;
      try {
        if (await this.acquire()) await this.commitPending();
        backoff.succeeded();
      } catch (err) {
        const step = backoff.failed();
        wait = step.waitMs;
        onError(err, step);
      }
      if (this.timer) this.timer = setTimeout(tick, wait);
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    const t = this.timer;
    this.timer = undefined;
    if (t) clearTimeout(t);
    await this.running;
    if (await this.acquire().catch(() => false)) await this.commitPending().catch(() => 0);
    await this.release();
  }

  /** For one-shot writers (the CLI): commit now unless a live committer will do it shortly. */
  async flush(): Promise<void> {
    if (!(await this.acquire())) return;
    this.dirty = true; // an explicit flush looks (config edits make no append to mark)
    try {
      await this.commitPending();
    } finally {
      await this.release();
    }
  }
}
