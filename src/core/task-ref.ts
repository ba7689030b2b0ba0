/**
 * Short names for tasks: a per-workspace number (`#12`, given at creation) and unique id
 * prefixes. Every door that takes a task id resolves it here (`resolveTaskRef`).
 *
 * Numbers are allocated without races among any number of writers: each is claimed by the
 * exclusive creation of `.orchestra/task-numbers/<n>` (link(2), EEXIST for the loser, who tries
 * n+1), then recorded in the task's `task.created` event, so the records alone carry it and a
 * replay gives the same handles. A number is never renumbered: deriving it from the creation
 * order instead would shift handles already shown to someone whenever a record with an earlier
 * timestamp lands late (another writer, another clock, an inbox file with its own ULID). A
 * number claimed by a creation that then fails is skipped (gaps are harmless).
 */
import { linkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { OrchestraError } from './errors.js';
import { createExclusive, mkdirp, readFileSafe, writeInPlace } from './fsutil.js';
import { isUlid } from './ids.js';
import type { TaskView } from './model/task.js';
import { streamOfTask } from './paths.js';
import { timeSlicer } from './time-slice.js';
import type { Workspace } from './workspace.js';

const numbersDir = (ws: Workspace) => join(ws.paths.runtime, 'task-numbers');
const HINT = 'last';
const MAX_TRIES = 10_000;

/**
 * The next number this process will try, per workspace: parallel allocations of one process
 * (intake takes 8 files at once) each reserve a different candidate synchronously instead of all
 * racing for the hint's number and retrying one by one. Other processes are still kept apart by
 * the exclusive claim.
 */
const nextCandidate = new WeakMap<Workspace, number>();

/** Takes `n` or the next candidate above what this process already tried, and reserves it. */
function reserve(ws: Workspace, n: number): number {
  const taken = Math.max(n, nextCandidate.get(ws) ?? 0);
  nextCandidate.set(ws, taken + 1);
  return taken;
}

/** Claims the next free task number of the workspace. */
export async function allocateTaskNumber(ws: Workspace): Promise<number> {
  const dir = numbersDir(ws);
  // No hint (a new workspace, or a fresh clone: .orchestra/ is not in git): start above every
  // number the records already hold.
  const base = ((await readHint(ws)) ?? (await highestRecordedNumber(ws))) + 1;
  counted.delete(ws); // later allocations go by the hint (or recount, if it vanished)
  let n = reserve(ws, base);
  for (let tries = 0; tries < MAX_TRIES; tries++, n = reserve(ws, n + 1)) {
    if (await claimName(dir, n)) {
      writeHint(dir, n);
      return n;
    }
  }
  throw new OrchestraError('CONFLICT', 'could not claim a task number');
}

/**
 * Claims the name `<n>` by link(2) from a shared empty file: a new directory entry, no new inode.
 * Making an inode costs 0.3-0.6 ms on a journaling file system, and the claim was two of them
 * (a temp file and the hint's); the link is ~10 µs. The claim needs no fsync of its own: the
 * task's record, fsynced next, commits the same journal with it, and a claim lost with its task
 * in a crash leaves a free number, which is right. One token per 50,000 numbers stays under the
 * file systems' link-count limits (65,000 on ext4); where links run out anyway, a file of its own.
 */
async function claimName(dir: string, n: number): Promise<boolean> {
  const token = join(dir, `${TOKEN_PREFIX}${Math.floor(n / NUMBERS_PER_TOKEN)}`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      linkSync(token, join(dir, String(n)));
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'ENOENT' || attempt > 0) break; // EMLINK, or the token is not a file: a file of its own
      await mkdirp(dir);
      try {
        writeInPlace(token, ''); // made once by whoever gets there first; all share it
      } catch {
        break;
      }
    }
  }
  return createExclusive(join(dir, String(n)), '', { fsync: false });
}
const TOKEN_PREFIX = '.token-';
const NUMBERS_PER_TOKEN = 50_000;

/**
 * Writes the hint in place as fixed-width digits (writeInPlace): a reader sees the old number,
 * the new one, or (a torn read) a mix of the two, always digits; a wrong hint costs only a retry
 * or a gap. A temp file and a rename per task cost an inode each. A hint only: never fails.
 */
function writeHint(dir: string, n: number, replace = true): void {
  const path = join(dir, HINT);
  try {
    writeInPlace(path, String(n).padStart(HINT_DIGITS, '0'));
  } catch (err) {
    // A link or FIFO left in its place is replaced once; any other failure leaves the old hint,
    // and the next allocation retries from it.
    const code = (err as NodeJS.ErrnoException).code;
    if (!replace || (code !== 'ELOOP' && code !== 'ENXIO')) return;
    try {
      unlinkSync(path);
    } catch {
      return;
    }
    writeHint(dir, n, false);
  }
}
const HINT_DIGITS = 16;

/**
 * For a process that will create tasks (`up`): counts the recorded numbers now, in the
 * background, when there is no hint yet (a fresh clone), so the first task does not wait for it.
 */
export async function primeTaskNumbers(ws: Workspace): Promise<void> {
  if ((await readHint(ws).catch(() => undefined)) === undefined) await highestRecordedNumber(ws);
}

/** The last number this copy claimed, if it has one on file. */
async function readHint(ws: Workspace): Promise<number | undefined> {
  // Digits only: an empty file (a writer killed between creating and writing it) is no hint,
  // not 0, which would send every allocation back to #1.
  const text = (await readFileSafe(join(numbersDir(ws), HINT)))?.trim();
  return text && /^\d{1,16}$/.test(text) ? Number(text) : undefined;
}

/** One count per workspace object at a time: the priming and a first allocation share it (for a minute: records keep arriving). */
const counted = new WeakMap<Workspace, { count: Promise<number>; at: number }>();
const COUNT_FRESH_MS = 60_000;

function highestRecordedNumber(ws: Workspace): Promise<number> {
  const known = counted.get(ws);
  if (known && Date.now() - known.at < COUNT_FRESH_MS) return known.count;
  const count = countRecordedNumbers(ws);
  counted.set(ws, { count, at: Date.now() });
  count.catch(() => counted.delete(ws));
  return count;
}

/**
 * The highest number the records hold. Each task's number is in its first record (task.created):
 * one small read per task, nothing folded or cached, pausing for the other loops. Paid once per
 * copy of the workspace (a fresh clone has no hint): folding every task here held intake up for
 * 13 s at 100,000 tasks and kept every stream in memory.
 */
async function countRecordedNumbers(ws: Workspace): Promise<number> {
  let max = 0;
  const pause = timeSlicer();
  for (const id of await ws.taskIds()) {
    await pause();
    const created = ws.store.readFirst(streamOfTask(id))?.events.find((e) => e.type === 'task.created');
    const number = created?.data.number;
    if (typeof number === 'number' && Number.isSafeInteger(number) && number > max) max = number;
  }
  return max;
}

/** `#12` for a numbered task, else the id's first 10 characters. */
export const taskHandle = (t: Pick<TaskView, 'id' | 'number'>) => (typeof t.number === 'number' ? `#${t.number}` : t.id.slice(0, 10));

/**
 * The full id a person meant: the id itself, `#12` / `12` (the task's number), or a unique
 * prefix of the id (case-insensitive). NOT_FOUND when nothing matches; INVALID_INPUT listing the
 * candidates when a prefix (or number) matches more than one task.
 */
export async function resolveTaskRef(ws: Workspace, ref: string): Promise<string> {
  const wanted = String(ref ?? '').trim();
  if (!wanted) throw new OrchestraError('INVALID_INPUT', 'which task? give its id, a unique prefix of it, or its number (#12)');
  const numbered = /^#?(\d{1,9})$/.exec(wanted);
  if (numbered) {
    const number = Number(numbered[1]);
    const matches = (await ws.tasks()).filter((t) => t.number === number);
    if (matches.length === 1) return matches[0]!.id;
    if (!matches.length) throw new OrchestraError('NOT_FOUND', `no task #${number}`);
    throw ambiguous(wanted, matches.map((t) => t.id));
  }
  const upper = wanted.toUpperCase();
  if (isUlid(upper) && (await ws.findTask(upper))) return upper;
  if (!/^[0-9A-Z]{1,26}$/.test(upper)) throw new OrchestraError('NOT_FOUND', `no task with id ${wanted}`);
  const matches = (await ws.taskIds()).filter((id) => id.toUpperCase().startsWith(upper));
  if (matches.length === 1) return matches[0]!;
  if (!matches.length) throw new OrchestraError('NOT_FOUND', `no task with id ${wanted}`);
  throw ambiguous(wanted, matches);
}

function ambiguous(wanted: string, ids: string[]): OrchestraError {
  const shown = ids.slice(0, 10).join(', ') + (ids.length > 10 ? `, and ${ids.length - 10} more` : '');
  return new OrchestraError('INVALID_INPUT', `"${wanted}" matches ${ids.length} tasks: ${shown}; give more of the id`);
}
