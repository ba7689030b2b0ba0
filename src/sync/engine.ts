import { existsSync, promises as fs, realpathSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { SYNC_GENERATION_FILE, type Acceptance, type ClaimRef } from '../core/acceptance.js';
import { describeError, OrchestraError } from '../core/errors.js';
import { writeAtomic } from '../core/fsutil.js';
import { newId } from '../core/ids.js';
import type { Logger } from '../core/log.js';
import { AUDIT_STREAM, streamOfTask } from '../core/paths.js';
import { recordFileName } from '../core/record.js';
import { AUDIT_SIGNAL, SHARED_SIGNAL } from '../core/signals.js';
import type { SyncConfig } from '../core/sync-config.js';
import type { Workspace } from '../core/workspace.js';
import { REWRITE_LOCK } from '../core/stream-store.js';
import { runGit } from './git-run.js';
import { isBlob } from '../core/git-import.js';
import { integrate } from './integrate.js';
import type { Withdrawn } from './withdrawn.js';

/**
 * The sync engine of one workspace clone (spec §20): rounds of fetch, integrate, commit and
 * fast-forward push against the configured git remote, and the Acceptance the loops ask before
 * an external effect. Preconditions: the workspace repo has the remote `sync.remote`; only the
 * process holding the committer lock runs rounds (others skip and read the remote-tracking ref
 * that one updates). Invariants: a push is only ever a fast-forward (the remote's atomic ref
 * update is the compare-and-swap), so a record the remote holds is never changed; rounds of one
 * process never overlap (a request during a round gets the next one); a round that renumbered
 * records bumps `.orchestra/sync/generation`, so every process's store drops its caches.
 */
export interface RoundReport {
  state: 'synced' | 'skipped';
  reason?: string;
  /** Commits pushed this round (0 when the remote already had everything). */
  pushed: boolean;
  received: number;
  renumbered: number;
  withdrawn: Withdrawn[];
  /** The accepted tip after the round. */
  tip?: string;
  ms: number;
}

const MAX_PUSH_TRIES = 20;

export const generationFile = (ws: Workspace) => join(ws.paths.runtime, SYNC_GENERATION_FILE);

/** The URL of the sync remote in the workspace repo, or undefined when it has none. */
export async function syncRemoteUrl(ws: Workspace): Promise<string | undefined> {
  const r = await runGit(ws.paths.root, ['config', '--get', `remote.${ws.config.sync.remote}.url`]);
  const url = r.stdout.toString('utf8').trim();
  return r.code === 0 && url ? url : undefined;
}

export class SyncEngine implements Acceptance {
  private current?: Promise<RoundReport>;
  private queued?: Promise<RoundReport>;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private running = false;
  private unsubscribe?: () => void;
  /** False after a round could not reach the remote, until one can. */
  reachable = true;
  readonly config: SyncConfig;
  private readonly tracking: string;

  private constructor(readonly ws: Workspace, private readonly log?: Logger) {
    this.config = ws.config.sync;
    this.tracking = `refs/remotes/${this.config.remote}/${this.config.branch}`;
  }

  /** The engine of a workspace with a sync remote (installed as its acceptance), or undefined without one: nothing changes then. */
  static async open(ws: Workspace, log?: Logger): Promise<SyncEngine | undefined> {
    if (!ws.config.sync.enabled || !(await syncRemoteUrl(ws))) return undefined;
    const engine = new SyncEngine(ws, log);
    ws.acceptance = engine;
    if (!existsSync(generationFile(ws))) await writeAtomic(generationFile(ws), newId());
    ws.store.watchGeneration(generationFile(ws));
    return engine;
  }

  /** Under this clone's own `.orchestra/worktrees/` and present (clones on one host share a file system). */
  holdsLocally(path: string | undefined): boolean {
    if (path === undefined || !existsSync(path)) return false;
    // Worktree paths are recorded resolved (vcs/worktree.ts), so compare with the resolved dir.
    let mine = this.ws.paths.worktrees;
    try {
      mine = realpathSync(mine);
    } catch {
      return false; // no worktree was ever made here
    }
    return path.startsWith(mine + sep);
  }

  leaseTtlMs(localTtlMs: number): number {
    return Math.max(localTtlMs, this.config.leaseTtlMs);
  }

  /** Runs rounds every `intervalMs`, and `debounceMs` after appends (this process's or signalled). */
  async start(): Promise<void> {
    this.running = true;
    this.ws.store.onAppend(() => this.soon());
    const sub = await this.ws.signals.subscribe(() => this.soon(), { fromNow: true });
    this.unsubscribe = () => sub.close();
    const tick = () => {
      if (!this.running) return;
      void this.round().catch(() => undefined).finally(() => {
        if (this.running) this.timer = setTimeout(tick, this.config.intervalMs);
      });
    };
    this.timer = setTimeout(tick, this.config.intervalMs);
  }

  /** Stops the rounds; a last round pushes what is committed (skipped when the remote is away). */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    await this.current?.catch(() => undefined);
    await this.round().catch((err) => this.log?.warn('last sync failed', describeError(err)));
  }

  private soon(): void {
    if (!this.running || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.round().catch(() => undefined);
    }, this.config.debounceMs);
  }

  /** One round, or (when one runs) the next: what was appended before this call is in it. */
  round(): Promise<RoundReport> {
    if (!this.current) {
      this.current = this.doRound().finally(() => (this.current = undefined));
      return this.current;
    }
    this.queued ??= this.current.catch(() => undefined).then(() => {
      this.queued = undefined;
      return this.round();
    });
    return this.queued;
  }

  private async doRound(): Promise<RoundReport> {
    const started = Date.now();
    const report: RoundReport = { state: 'synced', pushed: false, received: 0, renumbered: 0, withdrawn: [], ms: 0 };
    if (!(await this.ws.journal.acquire())) return { ...report, state: 'skipped', reason: 'another process of this clone commits and syncs it' };
    try {
      await this.ws.journal.commitPending();
      for (let i = 0; i < MAX_PUSH_TRIES; i++) {
        const tip = await this.fetch();
        let head = await this.head();
        if (tip && tip !== head && !(await this.isAncestor(tip, head))) {
          // HEAD is read again inside: a commit of this process may have landed since.
          const got = await this.ws.exclusive(() => this.ws.journal.exclusive(() => withRewriteLock(this.ws, async () => {
            const done = await integrate(this.ws, tip, await this.head());
            if (done.renumbered > 0 || done.withdrawn.length > 0) await writeAtomic(generationFile(this.ws), newId());
            this.ws.store.forgetAll();
            return done;
          })));
          report.received += got.received;
          report.renumbered += got.renumbered;
          report.withdrawn.push(...got.withdrawn);
          await this.signal(got.streams);
          if (got.withdrawn.length) this.log?.warn('records withdrawn by sync', { count: got.withdrawn.length, first: got.withdrawn[0]!.reason });
          await this.ws.journal.commitPending();
          head = await this.head();
        }
        if (tip === head) return { ...report, tip, ms: Date.now() - started };
        if (await this.push(head)) {
          report.pushed = true;
          return { ...report, tip: head, ms: Date.now() - started };
        }
      }
      throw new OrchestraError('CONFLICT', `the remote moved under every one of ${MAX_PUSH_TRIES} pushes; the next round tries again`);
    } catch (err) {
      if (err instanceof OrchestraError && err.code === 'SYNC_UNREACHABLE') this.reachable = false;
      throw err;
    }
  }

  /** Fetches the remote branch; its tip, or undefined when the remote has no such branch yet. */
  private async fetch(): Promise<string | undefined> {
    const { remote, branch, gitTimeoutMs } = this.config;
    const r = await runGit(this.ws.paths.root, ['fetch', '--no-tags', '--quiet', '--no-write-fetch-head', remote, `+refs/heads/${branch}:${this.tracking}`], { timeoutMs: gitTimeoutMs });
    if (r.code !== 0) {
      if (/couldn't find remote ref/i.test(r.stderr)) {
        this.reachable = true;
        return undefined;
      }
      throw new OrchestraError('SYNC_UNREACHABLE', `cannot fetch from the sync remote "${remote}": ${r.timedOut ? `no answer in ${gitTimeoutMs} ms` : firstLine(r.stderr)}`);
    }
    this.reachable = true;
    return this.tip();
  }

  /** The accepted tip as last fetched or pushed (the remote-tracking ref). */
  async tip(): Promise<string | undefined> {
    const r = await runGit(this.ws.paths.root, ['rev-parse', '-q', '--verify', `${this.tracking}^{commit}`]);
    return r.code === 0 ? r.stdout.toString('utf8').trim() : undefined;
  }

  private async head(): Promise<string> {
    return (await runGit(this.ws.paths.root, ['rev-parse', 'HEAD'])).stdout.toString('utf8').trim();
  }

  private async isAncestor(a: string, b: string): Promise<boolean> {
    return (await runGit(this.ws.paths.root, ['merge-base', '--is-ancestor', a, b])).code === 0;
  }

  /** A plain push (never forced): true when the remote took it, false when it moved first. */
  private async push(head: string): Promise<boolean> {
    const { remote, branch, gitTimeoutMs } = this.config;
    const r = await runGit(this.ws.paths.root, ['push', '--quiet', '--no-verify', remote, `${head}:refs/heads/${branch}`], { timeoutMs: gitTimeoutMs });
    if (r.code === 0) {
      await runGit(this.ws.paths.root, ['update-ref', this.tracking, head]);
      return true;
    }
    if (/non-fast-forward|fetch first|rejected|stale info|failed to update ref|cannot lock ref/i.test(r.stderr)) return false;
    throw new OrchestraError('SYNC_UNREACHABLE', `cannot push to the sync remote "${remote}": ${r.timedOut ? `no answer in ${gitTimeoutMs} ms` : firstLine(r.stderr)}`);
  }

  /** Tells the loops (all processes of this clone) which streams sync changed. */
  private async signal(streams: Set<string>): Promise<void> {
    for (const stream of streams) {
      const state = await this.ws.store.read(stream);
      if (stream.startsWith('tasks/')) await this.ws.signals.write(stream.slice('tasks/'.length), state.lastSeq);
      else if (stream === AUDIT_STREAM) await this.ws.signals.write(AUDIT_SIGNAL, state.lastSeq);
      else await this.ws.signals.write(SHARED_SIGNAL, Date.now());
    }
  }

  /**
   * Whether a claim counts: sync, then check that its record reached the remote and that the
   * accepted records still give this lease the task (see acceptance.ts for the outcomes).
   */
  async confirm(claim: ClaimRef, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.config.confirmTimeoutMs;
    for (;;) {
      if (signal?.aborted) throw new OrchestraError('LEASE_LOST', `the work on task ${claim.taskId} was stopped before its claim was confirmed`);
      try {
        await this.round();
      } catch (err) {
        const { code, message } = describeError(err);
        if (code === 'SYNC_UNREACHABLE' || code === 'GIT_ERROR') throw new OrchestraError('CLAIM_UNCONFIRMED', `the claim of task ${claim.taskId} cannot be confirmed: ${message}; no effect started, the task is retried later`);
        if (code !== 'CONFLICT') throw err;
      }
      const status = await this.claimStatus(claim);
      if (status === 'accepted') return;
      if (status === 'lost') throw new OrchestraError('LEASE_LOST', `the claim of task ${claim.taskId} (attempt ${claim.attempt}) was not accepted: another machine's claim or change came first`);
      if (Date.now() > deadline) throw new OrchestraError('CLAIM_UNCONFIRMED', `the claim of task ${claim.taskId} did not reach the remote within ${this.config.confirmTimeoutMs} ms; no effect started, the task is retried later`);
      await new Promise((r) => setTimeout(r, Math.max(50, this.config.debounceMs)));
    }
  }

  async claimStatus(claim: ClaimRef): Promise<'accepted' | 'pending' | 'lost'> {
    const stream = streamOfTask(claim.taskId);
    if (claim.claimId) {
      const state = await this.ws.store.read(stream);
      const record = state.records.find((r) => r.id === claim.claimId);
      if (!record) return 'lost';
      if (!(await this.isAccepted(stream, record.seq))) return 'pending';
    }
    const view = await this.ws.findTask(claim.taskId);
    const lease = view?.lease;
    if (!lease || lease.released || lease.attempt !== claim.attempt || lease.owner !== claim.owner) return 'lost';
    return 'accepted';
  }

  /** True when the remote-tracking tip holds exactly this clone's file at that stream position. */
  async isAccepted(stream: string, seq: number): Promise<boolean> {
    const path = relative(this.ws.paths.root, join(this.ws.paths.streamDir(stream), recordFileName(seq))); // as on disk (tasks are sharded)
    const r = await runGit(this.ws.paths.root, ['rev-parse', '-q', '--verify', `${this.tracking}:${path}`]);
    if (r.code !== 0) return false;
    const { readFile } = await import('node:fs/promises');
    const local = await readFile(join(this.ws.paths.root, path)).catch(() => undefined);
    return local !== undefined && isBlob(local, r.stdout.toString('utf8').trim());
  }
}

/** How long sync waits after taking the rewrite lock: an append that checked before it links within this. */
const REWRITE_GRACE_MS = 50;
const STALE_REWRITE_MS = 120_000;

/**
 * Holds `.orchestra/sync/rewrite.lock` around `fn`: other processes of this clone refuse to
 * append while it exists (StreamStore), and one that linked just before it was taken either
 * withdraws its own file (post-link check) or is seen by `fn`, which starts after a grace period.
 * A lock left by a dead process is taken over after STALE_REWRITE_MS.
 */
async function withRewriteLock<T>(ws: Workspace, fn: () => Promise<T>): Promise<T> {
  const lock = join(dirname(generationFile(ws)), REWRITE_LOCK);
  for (let i = 0; ; i++) {
    try {
      await fs.writeFile(lock, JSON.stringify({ pid: process.pid, at: Date.now() }), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - ((await fs.stat(lock).catch(() => undefined))?.mtimeMs ?? Date.now());
      if (age > STALE_REWRITE_MS) await fs.unlink(lock).catch(() => undefined);
      else if (i > 600) throw new OrchestraError('CONFLICT', 'another process holds the sync rewrite lock');
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    await new Promise((r) => setTimeout(r, REWRITE_GRACE_MS));
    return await fn();
  } finally {
    await fs.unlink(lock).catch(() => undefined);
  }
}

const firstLine = (text: string) => (text.split('\n').find((l) => l.trim()) ?? 'git failed').replace(/^fatal: /, '').slice(0, 300);
