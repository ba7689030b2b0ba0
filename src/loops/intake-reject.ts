import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { createExclusive } from '../core/fsutil.js';
import { fitName, NAME_MAX_BYTES } from '../core/file-names.js';

const ERROR_SUFFIX = '.error.json';

/**
 * Moves a claimed inbox file into `rejected/` beside its error record, never overwriting
 * anything: a free name N is chosen such that both N and N.error.json are new (the error record
 * is created first, exclusively; the file is then hard-linked, or for a directory renamed onto
 * a directory created exclusively for it). Returns the name used.
 * Preconditions: `source` is the claim path (same file system as `rejectedDir`); `name` is the
 * original file name (any text); `errorRecord` builds the record's JSON for a final name.
 */
export async function placeRejected(source: string, name: string, rejectedDir: string, uniqueTag: string, errorRecord: (file: string) => string): Promise<string> {
  const base = fitName(name, NAME_MAX_BYTES - ERROR_SUFFIX.length);
  const candidates = [base, fitName(`${uniqueTag}-${name}`, NAME_MAX_BYTES - ERROR_SUFFIX.length)];
  for (let i = 2; i < 20; i++) candidates.push(fitName(`${uniqueTag}-${i}-${name}`, NAME_MAX_BYTES - ERROR_SUFFIX.length));
  const stat = await fs.lstat(source);
  for (const candidate of candidates) {
    const target = join(rejectedDir, candidate);
    if (await fs.lstat(target).then(() => true, () => false)) continue;
    if (!(await createExclusive(`${target}${ERROR_SUFFIX}`, errorRecord(candidate), { fsync: false }))) continue;
    try {
      await moveNoReplace(source, target, stat.isDirectory());
      return candidate;
    } catch (err) {
      await fs.unlink(`${target}${ERROR_SUFFIX}`).catch(() => undefined);
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
  }
  throw Object.assign(new Error(`no free name in ${rejectedDir} for ${base}`), { code: 'EEXIST' });
}

/** Moves `source` to `target`, failing with EEXIST instead of replacing anything at `target`. */
async function moveNoReplace(source: string, target: string, isDirectory: boolean): Promise<void> {
  if (isDirectory) {
    await fs.mkdir(target); // EEXIST when taken; the rename then replaces only this empty directory
    try {
      await fs.rename(source, target);
    } catch (err) {
      await fs.rmdir(target).catch(() => undefined);
      throw err;
    }
    return;
  }
  // link(2) never replaces and never follows a symlink (a symlink is moved as a link).
  await fs.link(source, target);
  await fs.unlink(source);
}

export const NO_FOLLOW_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
