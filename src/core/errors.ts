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
  'GIT_ERROR',
  'UNAUTHORIZED',
  'WORKSPACE_DAMAGED',
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

/** Turns anything thrown into a code + readable message, never a stack trace. */
export function describeError(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof OrchestraError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: 'INTERNAL', message: err.message };
  return { code: 'INTERNAL', message: String(err) };
}
