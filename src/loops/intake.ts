import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Actor } from '../core/actor.js';
import type { Command } from '../core/inbox-format.js';
import type { Workspace } from '../core/workspace.js';
import { Backoff } from '../core/backoff.js';
import { describeError, OrchestraError, workspaceFsError } from '../core/errors.js';
import { fitName, NAME_MAX_BYTES, printableName } from '../core/file-names.js';
import { isTempName, readdirSafe } from '../core/fsutil.js';
import { newId, ULID_PATTERN } from '../core/ids.js';
import { parseInboxFile } from '../core/inbox-format.js';
import { readKey } from '../core/inbox-seal.js';
import { createTask } from '../core/ops/tasks.js';
import { AUDIT_STREAM } from '../core/paths.js';
import { readInboxFile } from './intake-read.js';
import { placeRejected } from './intake-reject.js';
import type { Loop, LoopEnv } from './loop.js';
import { watchDir, type DirWatcher } from '../core/watch.js';

/**
 * Refuses a task a workstream cannot take from this actor (e.g. an unknown repository, a command
 * the actor's profile does not allow, a rate limit), with a typed error before anything is recorded.
 */
export type TaskChecker = (ws: Workspace, task: { id?: string; workstream?: string; fields?: Record<string, unknown> }, actor: Actor, cause?: string) => Promise<void>;

/** Carries out an inbox command (the pipeline's runCommand, given by the app wiring). */
export type CommandRunner = (ws: Workspace, command: Command, actor: Actor, cause: string) => Promise<unknown>;

const CLAIM = new RegExp(`^(${ULID_PATTERN})--([\\s\\S]+)$`);
const PARALLEL = 8;
/** Tries of one file whose failure is neither its own fault nor the workspace's (INTERNAL, GIT_ERROR). */
const MAX_TRIES = 3;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** Names that editors and copy tools use while a file is still being written. */
const isPartialName = (name: string) =>
  name.startsWith('.') || isTempName(name) || /\.(tmp|part|partial|crdownload|swp)$/i.test(name) || name.endsWith('~');
/** errno codes that mean this one file cannot be read: it is rejected, never retried. */

export type IntakeOutcome = { file: string; result: 'task' | 'command' | 'rejected' | 'skipped'; taskId?: string; code?: string };

/**
 * A `.json` file whose bytes already parse as one JSON object is complete: a JSON text that is a
 * whole object cannot be the start of a longer valid one (a writer could only add whitespace or
 * make it invalid). Such a file needs no settle wait, which is what lets atomic and JSON writers
 * (every door of ours) be taken at once. Read the safe way (no link, no FIFO, bounded).
 */
async function isCompleteJson(path: string, size: number, maxBytes: number): Promise<boolean> {
  if (!path.toLowerCase().endsWith('.json') || size < 2 || size > Math.min(maxBytes, QUICK_JSON_MAX_BYTES)) return false;
  try {
    const value: unknown = JSON.parse((await readInboxFile(path, size)).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false; // not (yet) whole, or unreadable: the settle window decides
  }
}
/** Larger JSON files wait out the settle window (the early parse is a second read). */
const QUICK_JSON_MAX_BYTES = 256 * 1024;

const errno = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code;

/**
 * Turns inbox files into records. A file is claimed by renaming it into .orchestra/intake under a
 * fresh id (rename is atomic, so of several intake processes exactly one gets it), then
 * recorded with that id as the idempotency key: a crash at any point is finished on the next
 * scan without recording anything twice.
 *
 * Every file ends in a bounded number of tries: recorded, rejected (inbox/rejected/ with an
 * error record), or, when it cannot even be moved, recorded once in the audit stream as
 * `inbox.skipped` and left alone from then on (also by later processes). Failures of the
 * workspace itself (full disk, read-only) back off exponentially and make `idle()` throw the
 * typed error, so `up --once` exits with it.
 */
export class IntakeLoop implements Loop {
  readonly name = 'intake';
  private watcher?: DirWatcher;
  private timer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private scanning?: Promise<number>;
  private rescan = false;
  private stopping = false;
  private readonly tries = new Map<string, number>();
  private readonly skipped = new Set<string>();
  /** When this process first saw a file whose mtime is in the future. */
  private readonly firstSeen = new Map<string, number>();
  private readonly backoff = new Backoff(BACKOFF_BASE_MS, BACKOFF_MAX_MS);
  /** The workspace-level failure intake is backing off from, if any. */
  private blocked?: OrchestraError;
  readonly outcomes: IntakeOutcome[] = [];

  constructor(private readonly env: LoopEnv, private readonly runCommand: CommandRunner, private readonly checkTask?: TaskChecker) {}

  async start(): Promise<void> {
    const { paths } = this.env.ws;
    try {
      await fs.mkdir(paths.intake, { recursive: true });
    } catch (err) {
      throw workspaceFsError(err) ?? err;
    }
    await fs.mkdir(paths.rejected, { recursive: true }).catch((err) => {
      const typed = workspaceFsError(err);
      if (typed) throw typed;
      // Intake still runs: files it cannot move there are recorded once as skipped.
      this.env.log.error('inbox/rejected cannot be created; bad files will be skipped, not moved', describeError(err));
    });
    await this.loadSkipped();
    this.watcher = watchDir(paths.inbox, () => this.requestScan());
    // Not awaited: a large backlog must not delay start-up (and `up` installs its SIGTERM
    // handler only once every loop has started).
    this.requestScan();
    const tick = () => {
      if (this.stopping) return;
      this.requestScan();
      this.timer = setTimeout(tick, this.env.ws.config.loops.scanIntervalMs);
    };
    this.timer = setTimeout(tick, this.env.ws.config.loops.scanIntervalMs);
  }

  /** Entries already recorded as skipped (by any process) stay skipped. */
  private async loadSkipped(): Promise<void> {
    const { records } = await this.env.ws.readStream(AUDIT_STREAM);
    for (const r of records) for (const e of r.events) if (e.type === 'inbox.skipped' && typeof e.data.key === 'string') this.skipped.add(e.data.key);
  }

  private requestScan(): void {
    if (this.stopping) return;
    if (this.backoff.waiting()) {
      // Watcher events and timer ticks do not shorten a backoff; one retry is scheduled at its end.
      if (!this.retryTimer) this.retryTimer = setTimeout(() => { this.retryTimer = undefined; this.requestScan(); }, this.backoff.remainingMs());
      return;
    }
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    void this.scan().catch(() => undefined);
  }

  /** One pass: finish claims left by a crash, then claim and record every settled inbox file. */
  async scan(): Promise<number> {
    if (this.scanning) return this.scanning;
    this.scanning = (async () => {
      let done = 0;
      try {
        do {
          this.rescan = false;
          done += await this.drainClaims();
          done += await this.claimInbox();
        } while (this.rescan && !this.stopping && !this.backoff.waiting());
        if (this.backoff.failing && !this.backoff.waiting()) {
          const failures = this.backoff.succeeded();
          this.blocked = undefined;
          this.env.log.info('intake recovered', { failures });
        }
      } catch (err) {
        this.failedScan(err);
      }
      return done;
    })().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  /** A scan-level failure: backs off (doubling, capped) and logs once per backoff step. */
  private failedScan(err: unknown): void {
    const typed = workspaceFsError(err);
    if (typed) this.blocked = typed;
    const { waitMs, failures } = this.backoff.failed();
    this.env.log.error('intake paused', { ...describeError(err), failures, retryInMs: waitMs });
  }

  private async claimInbox(): Promise<number> {
    const { paths, config } = this.env.ws;
    const now = Date.now();
    let claimed = 0;
    let waitMs = 0;
    for (const name of await readdirSafe(paths.inbox)) {
      if (this.stopping || this.backoff.waiting()) break;
      if (name === 'rejected' || isPartialName(name)) continue;
      const path = join(paths.inbox, name);
      const stat = await fs.lstat(path).catch(() => undefined);
      if (!stat) continue;
      const key = inboxKey(name, stat);
      if (this.skipped.has(key)) continue;
      if (stat.isFile()) {
        // A file settles when its mtime is settleMs old; an mtime in the future (clock skew, or
        // `touch -d tomorrow`) must not hold it forever, so then our own first sighting counts.
        let age = now - stat.mtimeMs;
        if (age < 0) {
          const first = this.firstSeen.get(key) ?? now;
          this.firstSeen.set(key, first);
          age = now - first;
        }
        if (age < config.loops.settleMs && !(await isCompleteJson(path, stat.size, config.inbox.maxBytes))) {
          waitMs = Math.max(waitMs, config.loops.settleMs - age + 5);
          continue;
        }
        this.firstSeen.delete(key);
      }
      const claimId = newId();
      const claim = join(paths.intake, `${claimId}--${fitName(name, NAME_MAX_BYTES - claimId.length - 2)}`);
      try {
        await fs.rename(path, claim);
        claimed++;
      } catch (err) {
        if (errno(err) === 'ENOENT') continue; // another intake process took it
        const typed = workspaceFsError(err);
        if (typed) throw typed;
        await this.countFailure(key, name, err, () => this.skip(key, name, err));
      }
    }
    if (waitMs > 0 && !this.stopping) setTimeout(() => this.requestScan(), waitMs);
    return claimed > 0 ? this.drainClaims() : 0;
  }

  private async drainClaims(): Promise<number> {
    const claims = (await readdirSafe(this.env.ws.paths.intake)).filter((n) => CLAIM.test(n) && !this.skipped.has(claimKey(n))).sort();
    // Read once per pass, after the listing: a door makes the key before it seals its first file,
    // so every file listed here was written after the key it may carry a seal of.
    const key = readKey(this.env.ws.paths);
    let next = 0;
    let failure: unknown;
    const worker = async () => {
      while (next < claims.length && !this.stopping && failure === undefined) {
        try {
          await this.process(claims[next++]!, key);
        } catch (err) {
          failure = err;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, claims.length) }, worker));
    if (failure !== undefined) throw failure;
    return claims.length;
  }

  /** Counts a failed try of one entry; after MAX_TRIES calls `giveUp`. */
  private async countFailure(key: string, name: string, err: unknown, giveUp: () => Promise<void>): Promise<void> {
    const tries = (this.tries.get(key) ?? 0) + 1;
    this.tries.set(key, tries);
    this.env.log.error('inbox file left for the next scan', { file: printableName(name), try: tries, of: MAX_TRIES, ...describeError(err) });
    if (tries >= MAX_TRIES) {
      this.tries.delete(key);
      await giveUp();
    }
  }

  /** Records one claimed file (a task or a command), or rejects it with the reason beside it. */
  private async process(claimName: string, key: Buffer | undefined): Promise<void> {
    const { ws, log } = this.env;
    const [, claimId, name] = CLAIM.exec(claimName)!;
    const path = join(ws.paths.intake, claimName);
    const shown = printableName(name!);
    let actor: Actor | undefined;
    try {
      const bytes = await readInboxFile(path, ws.config.inbox.maxBytes);
      const item = parseInboxFile(name!, bytes, key);
      actor = item.actor ?? { kind: 'inbox', name: shown.slice(0, 200) };
      if (item.claimedActor) log.warn('the file names an actor without a valid seal: recorded as written by the inbox file', { file: shown, claimed: `${item.claimedActor.kind}:${item.claimedActor.name}`.slice(0, 120) });
      if (item.kind === 'task') {
        await this.checkTask?.(ws, { ...item.task, id: item.task.id ?? claimId }, actor, claimId);
        const task = await createTask(ws, { ...item.task, id: item.task.id ?? claimId }, {
          actor,
          cause: claimId,
          original: { name: name!.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '').slice(0, 100) || 'file', content: bytes },
        });
        this.outcomes.push({ file: shown, result: 'task', taskId: task.id });
        log.info('task recorded', { task: task.id, file: shown, title: task.title });
      } else {
        // A sealed nonce (an adapter's command) is the idempotency key: a copied file is not applied again.
        await this.runCommand(ws, item.command, actor, item.nonce ?? claimId);
        this.outcomes.push({ file: shown, result: 'command', taskId: item.command.task });
        log.info('command recorded', { command: item.command.command, task: item.command.task, file: shown });
      }
      this.tries.delete(claimKey(claimName));
      await fs.unlink(path).catch(() => undefined);
    } catch (err) {
      if (errno(err) === 'ENOENT' && !(await fs.lstat(path).then(() => true, () => false))) return; // the claim vanished: nothing left to do
      const typed = workspaceFsError(err);
      if (typed) throw typed;
      if (err instanceof OrchestraError && err.code === 'INVALID_INPUT' && (await this.stillBeingWritten(path))) return;
      if (err instanceof OrchestraError && err.code !== 'INTERNAL' && err.code !== 'GIT_ERROR') return this.reject(path, claimName, name!, err, actor);
      const key = claimKey(claimName);
      await this.countFailure(key, name!, err, () => this.reject(path, claimName, name!, new OrchestraError(describeError(err).code, `gave up after ${MAX_TRIES} tries: ${describeError(err).message}`)));
    }
  }

  /**
   * A claimed file that does not parse but changed within settleMs (taken early as whole JSON,
   * then rewritten in place by its writer) is read again once it has settled, not rejected.
   */
  private async stillBeingWritten(path: string): Promise<boolean> {
    const settleMs = this.env.ws.config.loops.settleMs;
    const stat = await fs.lstat(path).catch(() => undefined);
    const age = stat ? Date.now() - stat.mtimeMs : -1;
    if (!stat?.isFile() || age < 0 || age >= settleMs) return false;
    if (!this.stopping) setTimeout(() => this.requestScan(), settleMs - age + 5);
    return true;
  }

  /** `by`: who submitted the file, when known (its actor and a retry time go into both records). */
  private async reject(path: string, claimName: string, name: string, err: OrchestraError, by?: Actor): Promise<void> {
    const { ws, log, actor } = this.env;
    const at = new Date().toISOString();
    const message = err.message.slice(0, 480);
    const about = rejectionFacts(err, by);
    let finalName: string;
    try {
      finalName = await placeRejected(path, name, ws.paths.rejected, CLAIM.exec(claimName)![1]!, (file) => JSON.stringify({ code: err.code, message, at, file, ...(file !== name ? { originalName: name } : {}), ...about }, null, 2) + '\n');
    } catch (moveErr) {
      const typed = workspaceFsError(moveErr);
      if (typed) throw typed;
      return this.skip(claimKey(claimName), name, moveErr, err);
    }
    const original = printableName(name).slice(0, 255);
    await ws.appendTo(AUDIT_STREAM, (s) => s, () => ({ actor, events: [{ type: 'inbox.rejected', data: { file: finalName, ...(original !== finalName ? { original } : {}), code: err.code, message, ...about } }] }));
    this.outcomes.push({ file: printableName(name), result: 'rejected', code: err.code });
    log.warn('inbox file rejected', { file: finalName, code: err.code, message });
  }

  /** An entry that cannot even be moved: recorded once in the audit stream, then left alone. */
  private async skip(key: string, name: string, cause: unknown, reason?: OrchestraError): Promise<void> {
    const { ws, log, actor } = this.env;
    this.skipped.add(key);
    const why = reason ? `${reason.code}: ${reason.message}` : describeError(cause).message;
    const message = `cannot be moved to inbox/rejected (${describeError(cause).message.slice(0, 200)}); left in place and skipped from now on. ${why}`.slice(0, 480);
    const file = printableName(name);
    await ws.appendTo(AUDIT_STREAM, (s) => s, () => ({ actor, events: [{ type: 'inbox.skipped', data: { file, key, code: reason?.code ?? describeError(cause).code, message } }] }));
    this.outcomes.push({ file, result: 'skipped', code: reason?.code ?? describeError(cause).code });
    log.error('inbox file skipped', { file, message });
  }

  /**
   * True when nothing is pending. Throws the typed error (NO_SPACE, WORKSPACE_READONLY) while
   * intake is blocked by the workspace itself, so a one-shot run can end with it.
   */
  async idle(): Promise<boolean> {
    if (this.blocked) throw this.blocked;
    if (this.scanning) return false;
    const pending: string[] = [];
    for (const n of await readdirSafe(this.env.ws.paths.inbox)) {
      if (n === 'rejected' || isPartialName(n)) continue;
      const stat = await fs.lstat(join(this.env.ws.paths.inbox, n)).catch(() => undefined);
      if (stat && !this.skipped.has(inboxKey(n, stat))) pending.push(n);
    }
    const claims = (await readdirSafe(this.env.ws.paths.intake)).filter((n) => CLAIM.test(n) && !this.skipped.has(claimKey(n)));
    if (pending.length + claims.length === 0) return true;
    await this.scan();
    if (this.blocked) throw this.blocked;
    return false;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.watcher?.close();
    await this.scanning?.catch(() => undefined);
  }
}

/**
 * What a rejection record says besides code and message: the submitting actor (kind, name, user:
 * bounded by ActorSchema) and, for a refusal that names one, which limit and when to retry.
 */
function rejectionFacts(err: OrchestraError, by?: Actor): Record<string, unknown> {
  const facts: Record<string, unknown> = {};
  if (by) facts.actor = { kind: by.kind, name: by.name, ...(by.user !== undefined ? { user: by.user } : {}) };
  const { limit, retryAt } = err.details ?? {};
  if (typeof limit === 'string' && limit.length <= 40) facts.limit = limit;
  if (typeof retryAt === 'string' && !Number.isNaN(Date.parse(retryAt))) facts.retryAt = retryAt.slice(0, 40);
  return facts;
}

/** Identity of an inbox entry for skipping: a replaced or changed file is a new entry. */
const inboxKey = (name: string, stat: { ino: number; size: number; mtimeMs: number }) => `inbox:${name}:${stat.ino}:${stat.size}:${Math.round(stat.mtimeMs)}`;
const claimKey = (claimName: string) => `claim:${claimName}`;
