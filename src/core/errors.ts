/** Stable error codes: the CLI, adapters and tests rely on these strings. */
export const ErrorCodes = [
  'NOT_FOUND',
  'INVALID_TRANSITION',
  'TASK_LOCKED',
  'INVALID_INPUT',
  'INVALID_JSON',
  'CONFLICT',
  'LEASE_LOST',
  'NOT_OWNER',
  'UNSUPPORTED',
  'MISSING_API_KEY',
  'PROVIDER_ERROR',
  'PUSH_REFUSED',
  'SECRET_IN_CHANGES',
  'GIT_ERROR',
  'UNAUTHORIZED',
  'WORKSPACE_DAMAGED',
  'WORKSPACE_READONLY',
  'NO_SPACE',
  'RECORD_TOO_LARGE',
  'ARTIFACT_TOO_LARGE',
  'SANDBOX_UNAVAILABLE',
  'CONTEXT_DECRYPT_FAILED',
  'CONTEXT_KEY_MISSING',
  'COMMAND_NOT_ALLOWED',
  'PROFILE_DENIED',
  'RATE_LIMITED',
  'FORGE_UNAVAILABLE',
  'FORGE_AUTH',
  'BRANCH_DIVERGED',
  'CLAIM_UNCONFIRMED',
  'SYNC_UNREACHABLE',
  'SYNC_DIVERGED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ErrorCodes)[number];

/** The one error type the system throws on purpose. `message` is meant for a person. */
export class OrchestraError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'OrchestraError';
  }
}

export function isOrchestraError(err: unknown, code?: ErrorCode): err is OrchestraError {
  return err instanceof OrchestraError && (code === undefined || err.code === code);
}

/**
 * System errors that mean the workspace itself cannot be written (not one file's fault), as a
 * typed error with a message for a person; undefined for any other error.
 */
export function workspaceFsError(err: unknown): OrchestraError | undefined {
  if (err instanceof OrchestraError) return err.code === 'NO_SPACE' || err.code === 'WORKSPACE_READONLY' ? err : undefined;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const where = (err as NodeJS.ErrnoException | undefined)?.path;
  const at = where ? ` (writing ${where})` : '';
  if (errno === 'ENOSPC' || errno === 'EDQUOT') return new OrchestraError('NO_SPACE', `the disk holding the workspace is full${at}; free some space and run again`);
  if (errno === 'EROFS') return new OrchestraError('WORKSPACE_READONLY', `the workspace is on a read-only file system${at}; make it writable and run again`);
  const text = err instanceof Error ? err.message : '';
  if (/No space left on device|Disk quota exceeded/i.test(text)) return new OrchestraError('NO_SPACE', 'the disk holding the workspace is full; free some space and run again');
  if (/Read-only file system/i.test(text)) return new OrchestraError('WORKSPACE_READONLY', 'the workspace is on a read-only file system; make it writable and run again');
  return undefined;
}

/** Turns anything thrown into a code + readable message, never a stack trace. */
export function describeError(err: unknown): { code: ErrorCode; message: string } {
  const fsError = workspaceFsError(err);
  if (fsError) return { code: fsError.code, message: fsError.message };
  if (err instanceof OrchestraError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: 'INTERNAL', message: err.message };
  return { code: 'INTERNAL', message: String(err) };
}
