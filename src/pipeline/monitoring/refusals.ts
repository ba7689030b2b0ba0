import type { StoredEvent } from '../../core/record.js';
import { shortLine } from '../../core/text-sanitize.js';

/**
 * What counts as a refusal, decided from the records that exist, so a new refusal code (a rate
 * limit, a command allow-list) is counted the day something records it:
 *   - audit `inbox.rejected` (a rejected inbox file): source `inbox`, reason its `code`;
 *   - audit `access.refused` (a chat user or web request without access): source `access`,
 *     reason its `code`, else UNAUTHORIZED;
 *   - task `tool.refused` (a model's tool call refused): source `tool`, reason its `code`, else TOOL_REFUSED;
 *   - any other `<source>.refused` / `<source>.rejected` event: reason its `code`, else REFUSED.
 * Reasons become metric labels and page text: only `[A-Z0-9_]` codes pass, anything else is OTHER;
 * sources are short lower-case words, else `other`.
 */
export interface Refusal { source: string; reason: string; summary: string }

/** Audit event of the context store: a secret was read (counted and listed, not a refusal). */
export const SECRET_READ = 'context.secret-read';

const CODE = /^[A-Z][A-Z0-9_]{0,47}$/;
const SOURCE = /^[a-z][a-z0-9_-]{0,31}$/;

export function refusalOf(event: StoredEvent): Refusal | undefined {
  const m = /^([^.]+)\.(refused|rejected)$/.exec(event.type);
  if (!m) return undefined;
  const d = event.data as Record<string, unknown>;
  const source = SOURCE.test(m[1]!) ? m[1]! : 'other';
  const fallback = source === 'access' ? 'UNAUTHORIZED' : source === 'tool' ? 'TOOL_REFUSED' : 'REFUSED';
  const reason = d.code === undefined ? fallback : typeof d.code === 'string' && CODE.test(d.code) ? d.code : 'OTHER';
  const what = d.what ?? d.name ?? d.file ?? '';
  const why = d.message ?? d.reason ?? '';
  return { source, reason, summary: shortLine(`${String(what)}${why ? `: ${String(why)}` : ''}`, 200) };
}
