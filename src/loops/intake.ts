import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../app/commands.js';
import type { Actor } from '../core/actor.js';
import { describeError, OrchestraError } from '../core/errors.js';
import { isTempName, readdirSafe, writeAtomic } from '../core/fsutil.js';
import { newId } from '../core/ids.js';
import { parseInboxFile } from '../core/inbox-format.js';
import { createTask } from '../core/ops/tasks.js';
import { AUDIT_STREAM } from '../core/paths.js';
import type { Loop, LoopEnv } from './loop.js';
import { watchDir, type DirWatcher } from './watch.js';

const CLAIM = /^([0-9A-HJKMNP-TV-Z]{26})--(.+)$/;
const PARALLEL = 8;
/** Names that editors and copy tools use while a file is still being written. */
const isPartialName = (name: string) =>
  name.startsWith('.') || isTempName(name) || /\.(tmp|part|partial|crdownload|swp)$/i.test(name) || name.endsWith('~');

export type IntakeOutcome = { file: string; result: 'task' | 'command' | 'rejected'; taskId?: string; code?: string };

/**
 * Turns inbox files into records. A file is claimed by renaming it into .orchestra/intake under a
 * fresh id (rename is atomic, so of several intake processes exactly one gets it), then
 * recorded with that id as the idempotency key: a crash at any point is finished on the next
 * scan without recording anything twice.
 */
export class IntakeLoop implements Loop {
  readonly name = 'intake';
  private watcher?: DirWatcher;
  private timer?: NodeJS.Timeout;
  private scanning?: Promise<number>;
  private rescan = false;
  private stopping = false;
  readonly outcomes: IntakeOutcome[] = [];

  constructor(private readonly env: LoopEnv) {}

  async start(): Promise<void> {
    const { paths } = this.env.ws;
    await fs.mkdir(paths.intake, { recursive: true });
    await fs.mkdir(paths.rejected, { recursive: true });
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

  private requestScan(): void {
    if (this.stopping) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    void this.scan().catch((err) => this.env.log.error('inbox scan failed', describeError(err)));
  }

  /** One pass: finish claims left by a crash, then claim and record every settled inbox file. */
  async scan(): Promise<number> {
    if (this.scanning) return this.scanning;
    this.scanning = (async () => {
      let done = 0;
      do {
        this.rescan = false;
        done += await this.drainClaims();
        done += await this.claimInbox();
      } while (this.rescan && !this.stopping);
      return done;
    })().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async claimInbox(): Promise<number> {
    const { paths, config } = this.env.ws;
    const now = Date.now();
    let claimed = 0;
    let waitMs = 0;
    for (const name of await readdirSafe(paths.inbox)) {
      if (this.stopping) break;
      if (name === 'rejected' || isPartialName(name)) continue;
      const path = join(paths.inbox, name);
      const stat = await fs.lstat(path).catch(() => undefined);
      if (!stat) continue;
      if (stat.isFile()) {
        const age = now - stat.mtimeMs;
        if (age < config.loops.settleMs) {
          waitMs = Math.max(waitMs, config.loops.settleMs - age + 5);
          continue;
        }
      }
      const claim = join(paths.intake, `${newId()}--${name}`);
      try {
        await fs.rename(path, claim);
        claimed++;
      } catch {
        continue; // another intake process took it
      }
    }
    if (waitMs > 0 && !this.stopping) setTimeout(() => this.requestScan(), waitMs);
    return claimed > 0 ? this.drainClaims() : 0;
  }

  private async drainClaims(): Promise<number> {
    const claims = (await readdirSafe(this.env.ws.paths.intake)).filter((n) => CLAIM.test(n)).sort();
    let next = 0;
    const worker = async () => {
      while (next < claims.length && !this.stopping) await this.process(claims[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, claims.length) }, worker));
    return claims.length;
  }

  private async process(claimName: string): Promise<void> {
    const { ws, log } = this.env;
    const [, claimId, name] = CLAIM.exec(claimName)!;
    const path = join(ws.paths.intake, claimName);
    try {
      const stat = await fs.lstat(path);
      if (stat.isSymbolicLink()) throw new OrchestraError('INVALID_INPUT', 'symbolic links are not accepted in the inbox (copy the file instead)');
      if (stat.isDirectory()) throw new OrchestraError('INVALID_INPUT', 'directories are not accepted in the inbox; drop one file per task');
      if (!stat.isFile()) throw new OrchestraError('INVALID_INPUT', 'only regular files are accepted in the inbox');
      if (stat.size > ws.config.inbox.maxBytes) throw new OrchestraError('INVALID_INPUT', `the file is ${stat.size} bytes; the limit is ${ws.config.inbox.maxBytes}`);
      const bytes = await fs.readFile(path);
      const item = parseInboxFile(name!, bytes);
      const actor: Actor = item.actor ?? { kind: 'inbox', name: name!.slice(0, 200) };
      if (item.kind === 'task') {
        const task = await createTask(ws, { ...item.task, id: item.task.id ?? claimId }, {
          actor,
          cause: claimId,
          original: { name: name!.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '').slice(0, 100) || 'file', content: bytes },
        });
        this.outcomes.push({ file: name!, result: 'task', taskId: task.id });
        log.info('task recorded', { task: task.id, file: name, title: task.title });
      } else {
        await runCommand(ws, item.command, actor, claimId);
        this.outcomes.push({ file: name!, result: 'command', taskId: item.command.task });
        log.info('command recorded', { command: item.command.command, task: item.command.task, file: name });
      }
      await fs.unlink(path).catch(() => undefined);
    } catch (err) {
      if (!(err instanceof OrchestraError) || err.code === 'INTERNAL' || err.code === 'GIT_ERROR') {
        log.error('inbox file left for the next scan', { file: name, ...describeError(err) });
        return;
      }
      await this.reject(path, name!, err);
    }
  }

  private async reject(path: string, name: string, err: OrchestraError): Promise<void> {
    const { ws, log, actor } = this.env;
    let target = join(ws.paths.rejected, name);
    if (await fs.lstat(target).then(() => true, () => false)) target = join(ws.paths.rejected, `${newId()}-${name}`);
    await fs.rename(path, target);
    const finalName = target.slice(target.lastIndexOf('/') + 1);
    const at = new Date().toISOString();
    await writeAtomic(`${target}.error.json`, JSON.stringify({ code: err.code, message: err.message, at, file: finalName }, null, 2) + '\n');
    await ws.appendTo(AUDIT_STREAM, (s) => s, () => ({ actor, events: [{ type: 'inbox.rejected', data: { file: finalName, code: err.code, message: err.message } }] }));
    this.outcomes.push({ file: name, result: 'rejected', code: err.code });
    log.warn('inbox file rejected', { file: name, code: err.code, message: err.message });
  }

  async idle(): Promise<boolean> {
    if (this.scanning) return false;
    const pending = (await readdirSafe(this.env.ws.paths.inbox)).filter((n) => n !== 'rejected' && !isPartialName(n));
    const claims = (await readdirSafe(this.env.ws.paths.intake)).filter((n) => CLAIM.test(n));
    if (pending.length + claims.length === 0) return true;
    await this.scan();
    return false;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    await this.scanning?.catch(() => undefined);
  }
}
