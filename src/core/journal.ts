import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { Backoff } from './backoff.js';
import { commitMessage, describeFiles } from './commit-text.js';
import type { Config } from './config.js';
import { isOrchestraError, OrchestraError } from './errors.js';
import { readCommitMemo, writeCommitMemo } from './commit-memo.js';
import { configChanges, parseLsTree } from './commit-scope.js';
import { createExclusive, readdirSafe, readFileSafe, TEMP_PREFIX, writeAtomic } from './fsutil.js';
import { importCommit } from './git-import.js';
import { readBranchTip } from './git-tip.js';
import { runGit } from './git-run.js';
import { isObjectId, newId } from './ids.js';
import { pidAlive } from './presence.js';
import { CONFIG_PATHS, RECORD_DIRS, type WorkspacePaths } from './paths.js';
import { lastScanStart, planScan, saveScanRecord, SCAN_EVERY_MS, uncommittedFiles, type ScanPlan } from './journal-scan.js';

export { commitMessage, summarizeEvent } from './commit-text.js';

const STALE_LOCK_MS = 10_000;
/** How often a holder renews its lock while it holds it (a long commit, index refresh or sync fetch included). */
const LOCK_HEARTBEAT_MS = STALE_LOCK_MS / 4;
const MAX_BACKOFF_MS = 30_000;
/** A running committer brings git's index up to date once commits have paused this long. */
const QUIET_BEFORE_INDEX_MS = 30_000;
/** How long after its start a running committer makes its first full scan. */
const FIRST_SCAN_DELAY_MS = 60_000;
/** Below this size (about 10,000 files) the index is cheap enough to refresh after every one-shot commit. */
const CHEAP_INDEX_BYTES = 1024 * 1024;

/** fast-import's refusals when the branch moved, or was being moved, after the tip was read. */
const BRANCH_MOVED = /Not updating refs\/\S+ \(new tip \S+ does not contain|cannot lock ref 'refs\/heads\//;

/** Runs git in the workspace repo with a fixed identity so it works on machines without git config. */
export async function git(paths: WorkspacePaths, config: Config, args: string[], input?: string, env?: Record<string, string>) {
  const identity = ['-c', `user.name=${config.git.author.name}`, '-c', `user.email=${config.git.author.email}`, '-c', 'commit.gpgsign=false'];
  const run = await runGit([...identity, ...args], { cwd: paths.root, ...(input !== undefined ? { input } : {}), ...(env ? { env: { ...process.env, ...env } } : {}) });
  if (run.code !== 0) {
    throw new OrchestraError('GIT_ERROR', `git ${args[0]} failed in the workspace: ${(run.stderr || run.stdout).trim().slice(0, 500)}`);
  }
  return run.stdout.replace(/\n$/, '');
}

/**
 * The one writer of the workspace repo. Every process that writes records may commit, but only
 * while it holds the committer lock, so git never sees two writers. A commit adds the record
 * files this process wrote (or other writers handed over) that the last commit lacks: it can add
 * records, never change or delete one. Config (orchestra.json, ai/) is committed whatever the
 * change: it is not a record.
 */
export class GitJournal {
  private timer?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  /**
   * The text this process last wrote into the lock (pid, host, time and a fresh id), while it
   * holds it: the lock is ours only while it reads exactly that. A pid alone is not enough: two
   * hosts, or two containers sharing the workspace, can have the same one.
   */
  private lockText?: string;
  private get holding(): boolean {
    return this.lockText !== undefined;
  }
  /** Counts this process's writes of the lock, so a renewal that read it before a write does not act on that stale read. */
  private lockWrites = 0;
  private running?: Promise<number>;
  /** Record files this process wrote since its last commit (relative to the root): exact, no listing needed. */
  private readonly written = new Set<string>();
  /** Anything written since the last commit (a committer that runs with no writes spawns no git). */
  private dirty = true;
  /**
   * When the next scan of the record directories is due. Only a running committer (`start`)
   * scans on its own (see start, then every SCAN_EVERY_MS); a one-shot writer (`flush`, the CLI)
   * knows what it wrote.
   */
  private scanDueAt = Number.POSITIVE_INFINITY;
  /** A started committer has not run its first full scan yet (see start). */
  private startScanPending = false;
  /** When the oldest write not yet committed was noted (see lagMs). */
  private pendingSince?: number;
  /** The branch HEAD names (refs/heads/main): read once. */
  private branch?: string;
  /** Commits made since the index was last brought up to date (see refreshIndex). */
  private commitsSinceRefresh = 0;
  private lastCommitAt = 0;

  constructor(private readonly paths: WorkspacePaths, private readonly config: Config) {}

  /** Lock operations of this instance, one at a time (the commit tick and a sync round both take it). */
  private lockOps: Promise<unknown> = Promise.resolve();

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.lockOps.then(op, op);
    this.lockOps = run.catch(() => undefined);
    return run;
  }

  /** Tries to hold the committer lock; true if this process holds it now. */
  acquire(): Promise<boolean> {
    return this.serial(async () => {
      const held = await this.acquireNow();
      if (held) this.beat();
      return held;
    });
  }

  private async acquireNow(): Promise<boolean> {
    const lock = this.paths.committerLock;
    const mine = JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now(), id: newId() });
    if (this.holding) {
      const current = await fs.readFile(lock, 'utf8').catch(() => '');
      if (current === this.lockText) {
        await writeAtomic(lock, mine);
        this.wrote(mine);
        return true;
      }
      this.lockText = undefined; // taken over: not ours any more
    }
    try {
      await fs.writeFile(lock, mine, { flag: 'wx' });
      this.wrote(mine);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        await fs.mkdir(this.paths.runtime, { recursive: true });
        return this.acquireNow();
      }
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    // Take over a stale lock: moved aside by rename (atomic: of several processes seeing the same
    // stale lock, one moves it), then checked to be the very file judged stale. A live holder's
    // lock that replaced it in between is put back.
    const stale = await this.staleLock();
    if (stale === undefined) return false;
    const aside = `${lock}.stale-${process.pid}-${newId()}`;
    try {
      await fs.rename(lock, aside);
    } catch {
      return false;
    }
    // Inode numbers are reused at once on ext4: the file moved must match in inode, mtime and text.
    const moved = await fs.stat(aside).catch(() => undefined);
    const movedText = await fs.readFile(aside, 'utf8').catch(() => undefined);
    if (moved?.ino !== stale.ino || moved.mtimeMs !== stale.mtimeMs || movedText !== stale.text) {
      await fs.link(aside, lock).catch(() => undefined);
      await fs.unlink(aside).catch(() => undefined);
      return false;
    }
    await fs.unlink(aside).catch(() => undefined);
    return this.acquireNow();
  }

  /**
   * The lock file as judged stale (inode, mtime, text): its holder is a dead process of this host,
   * or it has not been renewed for STALE_LOCK_MS. Undefined when it is live, gone, or still being
   * written (a lock read empty or half-written is a holder that has just created it).
   */
  private async staleLock(): Promise<{ ino: number; mtimeMs: number; text: string } | undefined> {
    const stat = await fs.stat(this.paths.committerLock).catch(() => undefined);
    if (!stat) return undefined;
    const text = await fs.readFile(this.paths.committerLock, 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const judged = { ino: stat.ino, mtimeMs: stat.mtimeMs, text };
    if (Date.now() - stat.mtimeMs > STALE_LOCK_MS) return judged;
    let holder: { pid?: unknown; host?: unknown };
    try {
      holder = JSON.parse(text) as typeof holder;
    } catch {
      return undefined;
    }
    return holder.host === hostname() && typeof holder.pid === 'number' && !pidAlive(holder.pid) ? judged : undefined;
  }

  /**
   * While this process holds the lock, its mtime is renewed every LOCK_HEARTBEAT_MS, so one long
   * operation under it (a commit of thousands of files, an index refresh, a sync fetch) is never
   * judged stale by another process. Stops once the lock is not ours any more.
   */
  private beat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => void this.renew(), LOCK_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private wrote(text: string): void {
    this.lockText = text;
    this.lockWrites++;
  }

  private async renew(): Promise<void> {
    const lock = this.paths.committerLock;
    const writes = this.lockWrites;
    if (!this.holding) return this.stopBeat();
    let current: string;
    try {
      current = await fs.readFile(lock, 'utf8');
    } catch {
      return; // unknown (moved aside for a moment by a takeover attempt, out of descriptors): the next beat looks again
    }
    if (writes !== this.lockWrites) return; // taken again meanwhile: this read says nothing of now
    if (current !== this.lockText) return this.stopBeat();
    const now = new Date();
    await fs.utimes(lock, now, now).catch(() => undefined);
  }

  private stopBeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  release(): Promise<void> {
    return this.serial(async () => {
      this.stopBeat();
      if (this.lockText === undefined) return;
      const current = await fs.readFile(this.paths.committerLock, 'utf8').catch(() => '');
      if (current === this.lockText) await fs.unlink(this.paths.committerLock).catch(() => undefined);
      this.lockText = undefined;
    });
  }

  /**
   * Notes a file this process wrote under a record directory (a record, a task's record file, a
   * prompt text, an artifact blob): the next commit adds exactly these, with no listing.
   */
  markFile(absolutePath: string): void {
    const rel = relative(this.paths.root, absolutePath);
    if (!rel || rel.startsWith('..')) return;
    this.written.add(rel);
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

  /** Commits every new record file in one commit. Returns how many files were committed. */
  async commitPending(): Promise<number> {
    if (this.running) return this.running;
    this.running = this.doCommit().finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Runs `fn` while this process makes no commit (sync moves HEAD under it). The caller must hold
   * the committer lock, so no other process commits either.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running) await this.running.catch(() => 0);
    const run = fn();
    this.running = run.then(() => 0, () => 0).finally(() => (this.running = undefined));
    return run;
  }

  /** The next commit compares every record directory with the last commit (after sync moved HEAD). */
  scanAll(): void {
    this.scanDueAt = 0;
    this.dirty = true;
  }

  /**
   * A writer that cannot commit (another process holds the lock) hands its list of written
   * files to the holder as a note under .orchestra/journal-notes/; the holder commits them at
   * its next tick. Nothing is lost if the holder dies first: the next holder reads the note.
   */
  async handOver(): Promise<void> {
    if (this.written.size === 0) return;
    const files = [...this.written];
    await fs.mkdir(this.paths.journalNotes, { recursive: true });
    await createExclusive(join(this.paths.journalNotes, `${newId()}.json`), JSON.stringify(files), { fsync: this.config.fsync });
    for (const f of files) this.written.delete(f); // only once the note exists
  }

  private fullScanDue(): boolean {
    return Date.now() >= this.scanDueAt;
  }

  private async doCommit(): Promise<number> {
    const full = this.fullScanDue();
    const notes = await readdirSafe(this.paths.journalNotes).then((names) => names.filter((n) => n.endsWith('.json')));
    if (!this.dirty && !full && notes.length === 0) return 0;
    this.dirty = false;
    const since = this.pendingSince;
    this.pendingSince = undefined;
    const files = new Set(this.written);
    this.written.clear();
    try {
      const noted = new Set<string>();
      for (const note of notes) for (const f of await this.readNote(note)) noted.add(f);
      if (full) {
        this.scanDueAt = Date.now() + SCAN_EVERY_MS;
        this.startScanPending = false;
      }
      const count = await this.commitFilesOnTip(files, noted, full);
      for (const note of notes) await fs.unlink(join(this.paths.journalNotes, note)).catch(() => undefined);
      return count;
    } catch (err) {
      for (const f of files) this.written.add(f);
      this.dirty = true;
      if (full) this.scanDueAt = 0;
      if (since !== undefined) this.pendingSince = Math.min(since, this.pendingSince ?? since);
      throw err;
    }
  }

  /** A note's files: only relative paths under a record directory are taken (a note is local, but still checked). */
  private async readNote(name: string): Promise<string[]> {
    const text = await readFileSafe(join(this.paths.journalNotes, name));
    let list: unknown;
    try {
      list = JSON.parse(text ?? '[]');
    } catch {
      return [];
    }
    if (!Array.isArray(list)) return [];
    return list.filter((f): f is string => typeof f === 'string' && isRecordPath(f));
  }

  /**
   * commitFiles, built again on the new tip when fast-import refuses it because the branch moved
   * (or was being moved) after the tip was read: a commit made by hand, or a second committer (the
   * lock is the guard, this is the net). Twice at most; the files stay pending if it still fails.
   */
  private async commitFilesOnTip(written: Set<string>, noted: Set<string>, full: boolean): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.commitFiles(written, noted, full);
      } catch (err) {
        if (attempt >= 2 || !isOrchestraError(err, 'GIT_ERROR') || !BRANCH_MOVED.test(err.message)) throw err;
      }
    }
  }

  /**
   * One commit of the record files this process wrote, those other writers noted that the last
   * commit lacks (a note never changes a committed record), on a full scan every record file the
   * last commit lacks, and config changes. Only regular files go in. The index is not used: see
   * git-import.ts.
   */
  private async commitFiles(written: Set<string>, noted: Set<string>, full: boolean): Promise<number> {
    const parent = await this.tip();
    const committed = parent ? await this.committedBlobs(parent, [...noted].filter((f) => !written.has(f))) : new Map<string, string>();
    const candidates = [...written, ...[...noted].filter((f) => !written.has(f) && !committed.has(f))];
    const records = new Set<string>();
    for (const f of candidates) if (!isTempPath(f) && (await isRegularFile(join(this.paths.root, f)))) records.add(f);
    const scan = full ? await this.scan(parent) : undefined;
    for (const f of scan?.files ?? []) records.add(f);
    const config = await configChanges(this.paths.root, CONFIG_PATHS, committed);
    const add = [...records, ...config.changed];
    const files = [...add, ...config.removed];
    // The commit that holds everything found: a new one, or the parent when nothing was missing.
    // The memo takes the ids of the bytes streamed into the commit: a config file edited between
    // the comparison above and the commit is remembered as committed, not as compared.
    const streamed = new Map<string, string>();
    const head = files.length ? await this.commit(parent, add, config.removed, streamed) : parent;
    if (head && head !== parent) {
      const blobs = new Map(config.kept);
      for (const path of config.changed) blobs.set(path, streamed.get(path)!);
      await writeCommitMemo(this.paths, { commit: head, config: blobs }).catch(() => undefined);
    }
    if (scan?.complete) await saveScanRecord(this.paths, scan.plan, head);
    return files.length;
  }

  /**
   * The blobs `parent` holds for the config paths and for `paths` (noted files). The config's come
   * from the memo of the last commit when `parent` is that commit (no git process); otherwise,
   * and for noted files, from `git ls-tree`.
   */
  private async committedBlobs(parent: string, paths: string[]): Promise<Map<string, string>> {
    const memo = readCommitMemo(this.paths, parent);
    if (!memo) return this.listTree(parent, [...CONFIG_PATHS, ...paths]);
    if (paths.length === 0) return memo.config;
    const listed = await this.listTree(parent, paths);
    for (const [path, id] of memo.config) listed.set(path, id);
    return listed;
  }

  /**
   * The commit HEAD points at ('' on an unborn branch), and the branch's name on the way: read
   * from .git when it can be, else one git process for both.
   */
  private async tip(): Promise<string> {
    // Read from .git's files when the layout is the plain one (git-tip.ts), else asked of git.
    const read = readBranchTip(this.paths.root);
    if (read) {
      this.branch = read.branch; // the branch HEAD names now (a checkout moves the commits with it)
      return read.commit;
    }
    if (this.branch) return git(this.paths, this.config, ['rev-parse', '-q', '--verify', 'HEAD']).catch(() => '');
    const out = await git(this.paths, this.config, ['rev-parse', 'HEAD', '--symbolic-full-name', 'HEAD']).catch(() => '');
    const [parent, branch] = out.split('\n');
    if (!parent || !isObjectId(parent)) return '';
    if (branch?.startsWith('refs/heads/')) this.branch = branch;
    return parent;
  }

  /** One commit of `add` and `remove` on top of `parent` (see git-import.ts); returns its id. */
  private async commit(parent: string, add: string[], remove: string[], streamed?: Map<string, string>): Promise<string> {
    const { title, body } = await describeFiles(this.paths, [...add, ...remove]);
    // The message goes through stdin, every line reduced to printable single-line text.
    this.branch ??= await git(this.paths, this.config, ['symbolic-ref', '-q', 'HEAD']); // an unborn branch: tip() could not say
    const head = await importCommit(this.paths.root, {
      branch: this.branch,
      ...(parent ? { parent } : {}),
      message: commitMessage(title, body),
      committer: this.config.git.author,
      add,
      remove,
      ...(streamed ? { streamed } : {}),
    });
    this.commitsSinceRefresh++;
    this.lastCommitAt = Date.now();
    return head;
  }

  /** The blobs of `commit` at exactly these paths (or under these directories). */
  private async listTree(commit: string, paths: string[]): Promise<Map<string, string>> {
    return parseLsTree(await git(this.paths, this.config, ['--literal-pathspecs', 'ls-tree', '-r', '-z', commit, '--', ...paths]));
  }

  /**
   * The safety-net scan (journal-scan.ts). A scan that fails or could not read a directory is
   * not recorded as done and is tried again a minute later; the commit of what is known goes on.
   */
  private async scan(parent: string): Promise<{ files: string[]; complete: boolean; plan: ScanPlan } | undefined> {
    try {
      const plan = await planScan(this.paths, parent, (ancestor, head) => git(this.paths, this.config, ['merge-base', '--is-ancestor', ancestor, head]).then(() => true, () => false));
      const found = await uncommittedFiles(this.paths, parent, plan, (commit, paths) => this.listTree(commit, paths));
      if (!found.complete) this.scanDueAt = Date.now() + FIRST_SCAN_DELAY_MS;
      return { ...found, plan };
    } catch {
      this.scanDueAt = Date.now() + FIRST_SCAN_DELAY_MS;
      return undefined;
    }
  }

  /**
   * Brings git's index (what `git status` compares with) up to the last commit. Commits never
   * touch it, and reading it costs the whole workspace, so a running committer does this only
   * after a quiet spell following commits, and when it stops.
   */
  async refreshIndex(): Promise<void> {
    if (this.commitsSinceRefresh === 0) return;
    this.commitsSinceRefresh = 0;
    await this.clearStaleIndexLock();
    await git(this.paths, this.config, ['reset', '-q']);
  }

  private async clearStaleIndexLock(): Promise<void> {
    const indexLock = join(this.paths.root, '.git', 'index.lock');
    const stat = await fs.stat(indexLock).catch(() => undefined);
    // We hold the committer lock, so an index.lock older than a few seconds is a crash leftover.
    if (stat && Date.now() - stat.mtimeMs > 5000) await fs.unlink(indexLock).catch(() => undefined);
  }



  /**
   * Commits every `intervalMs` while this process holds (or can take) the committer lock; while
   * another process holds it, hands its written files over (see handOver). Repeated failures (a
   * full disk, a read-only workspace) back off exponentially up to MAX_BACKOFF_MS, and `onError`
   * is called once per try, so once per backoff step.
   */
  start(intervalMs = this.config.git.commitIntervalMs, onError: (err: unknown, retry: { failures: number; waitMs: number }) => void = () => undefined): void {
    const backoff = new Backoff(Math.max(intervalMs, 250), MAX_BACKOFF_MS);
    // A crashed writer's leftovers are committed by a scan FIRST_SCAN_DELAY_MS after the start, or
    // SCAN_EVERY_MS after the last scan on record if that is later (a restart soon after a scan
    // does not repeat it), or at stop if this process has not scanned by then. Not at once: a
    // start has its own reads to do.
    this.scanDueAt = Date.now() + FIRST_SCAN_DELAY_MS;
    this.startScanPending = true;
    void lastScanStart(this.paths).then((since) => {
      if (since !== undefined && this.scanDueAt !== 0) this.scanDueAt = Math.max(this.scanDueAt, since + SCAN_EVERY_MS);
    }, () => undefined);
    const tick = async () => {
      let wait = intervalMs;
      try {
        if (await this.acquire()) {
          await this.commitPending();
          if (Date.now() - this.lastCommitAt >= QUIET_BEFORE_INDEX_MS) await this.refreshIndex();
        } else await this.handOver();
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
    const t = this.timer;
    this.timer = undefined;
    if (t) clearTimeout(t);
    await this.running;
    if (await this.acquire().catch(() => false)) {
      if (this.startScanPending) this.scanDueAt = 0;
      // A tick's commit that began before the line above is not the full one: wait it out first.
      while (this.running) await this.running.catch(() => 0);
      await this.commitPending().catch(() => 0);
      await this.refreshIndex().catch(() => undefined);
    } else await this.handOver().catch(() => undefined);
    await this.release();
  }

  /**
   * For one-shot writers (the CLI): commit now, or hand the written files to the process that
   * holds the lock. The index is brought up to date only while that is cheap (a small workspace).
   */
  async flush(): Promise<void> {
    for (let round = 0; round < 3; round++) {
      if (!(await this.acquire())) {
        await this.handOver();
        // The holder may have read the notes before ours was written and be gone now: look once more.
        if (!(await this.acquire())) return;
      }
      this.dirty = true; // an explicit flush looks (config edits make no append to mark)
      try {
        await this.commitPending();
        const index = await fs.stat(join(this.paths.root, '.git', 'index')).catch(() => undefined);
        if (!index || index.size <= CHEAP_INDEX_BYTES) await this.refreshIndex();
      } finally {
        await this.release();
      }
      // A writer that handed its files over after this commit read the notes, and found the lock
      // still held, counts on the holder: look at the notes once the lock is free.
      const notes = await readdirSafe(this.paths.journalNotes);
      if (!notes.some((n) => n.endsWith('.json'))) return;
    }
  }
}

/** A path a journal note may name: relative, inside a record directory, no `..`, no temp part. */
function isRecordPath(path: string): boolean {
  const parts = path.split('/');
  return parts.length >= 2 && RECORD_DIRS.includes(parts[0]!) && !parts.some((p) => p === '' || p === '.' || p === '..') && !isTempPath(path);
}

const isTempPath = (path: string) => path.split('/').some((part) => part.startsWith(TEMP_PREFIX));

async function isRegularFile(path: string): Promise<boolean> {
  return (await fs.lstat(path).catch(() => undefined))?.isFile() ?? false;
}
