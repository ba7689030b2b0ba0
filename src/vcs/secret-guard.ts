/**
 * The publish-side secret check: what a task changed is scanned for known secrets (and their
 * encodings, see core/secret-scan.ts) before a commit, before a push and before a diff is
 * kept as a record. A hit is OrchestraError('SECRET_IN_CHANGES') naming variable, encoding and
 * file, never the value.
 */
import { OrchestraError } from '../core/errors.js';
import { describeHits, knownSecrets, SecretScanner, type NamedSecret, type SecretHit } from '../core/secret-scan.js';
import { git, type GitOptions } from './git.js';

/** Diff flags for scanning: every file as text, no external tools or conversions, no context. */
export const SCAN_DIFF_FLAGS: readonly string[] = ['-a', '--no-color', '--no-ext-diff', '--no-textconv', '--no-renames', '-U0'];

/** The scanner for `secrets`, by default the secret-named variables of this process. */
export function scannerFor(secrets?: readonly NamedSecret[]): SecretScanner {
  return new SecretScanner(secrets ?? knownSecrets());
}

/**
 * Secrets added between `from` and `to` in `cwd` (a worktree or mirror). `to` undefined compares
 * with the index (`--cached`); pass GIT_INDEX_FILE in `opts` for a temporary index.
 */
export async function scanChanges(cwd: string, from: string, to: string | undefined, scanner: SecretScanner, opts: GitOptions = {}): Promise<SecretHit[]> {
  if (scanner.empty) return [];
  const range = to === undefined ? ['--cached', from] : [from, to];
  const patch = await git(cwd, ['diff', ...SCAN_DIFF_FLAGS, ...range, '--'], opts);
  return scanner.scanDiff(patch);
}

/** The error for hits found before `step` (commit, push, ...). */
export function secretError(hits: readonly SecretHit[], step: string): OrchestraError {
  return new OrchestraError(
    'SECRET_IN_CHANGES',
    `Refusing to ${step}: the changes contain a secret: ${describeHits(hits)}. Nothing was published; remove it and retry.`,
    { hits: hits.map((h) => ({ ...h })) },
  );
}

/** Throws SECRET_IN_CHANGES when `hits` is not empty. */
export function assertNoSecrets(hits: readonly SecretHit[], step: string): void {
  if (hits.length > 0) throw secretError(hits, step);
}
