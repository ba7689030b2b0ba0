/**
 * What the forge poller remembers, as records of its own stream `forge/<kind>--<repo>` (so it
 * holds across restarts and several `up` processes, and is in the workspace's history): which
 * issue became which task, the last comment read on each thread, the ETags of the last full
 * answers, and which plan and result were already told on the issue. A poll that changes
 * nothing (every answer a 304) appends nothing.
 * Invariants: an issue is taken once: `forge.issue-taken` is appended by an optimistic append that
 * re-checks the folded state, and its task id is fixed there, before any inbox file is written.
 * A comment is posted only after its intent (`forge.telling`, by one poller, re-checked in the
 * append) and is confirmed by `forge.told`; an intent without its confirmation is looked up on
 * the thread (by the comment's key) before anyone posts again.
 */
import { z } from 'zod';
import type { StreamState } from '../../core/stream-store.js';

export const forgeStream = (kind: string, repo: string) => `forge/${kind}--${repo.replace(/\//g, '--')}`;

const str = z.string().max(2000);
const EventSchemas = {
  'forge.issue-taken': z.object({ issue: z.number().int().positive(), taskId: str, url: str }),
  'forge.issue-submitted': z.object({ issue: z.number().int().positive() }),
  'forge.etag': z.object({ key: str, etag: str }),
  /** An issue not taken (its author may not open tasks, config `forge.issueAuthors`). */
  'forge.issue-refused': z.object({ issue: z.number().int().positive(), author: str }),
  /** `at`: when the last comment read was written or edited, where the next read starts. */
  'forge.comment-seen': z.object({ thread: str, id: z.number().int(), at: str.optional() }),
  /** An allowed login's account id, resolved once: a later holder of the login is someone else. */
  'forge.user-pinned': z.object({ login: str, id: z.number().int().nonnegative() }),
  'forge.telling': z.object({ taskId: str, what: z.enum(['plan', 'result']), mark: str, by: str }),
  'forge.told': z.object({ taskId: str, what: z.enum(['plan', 'result']), mark: str }),
} as const;
export type ForgeEventType = keyof typeof EventSchemas;
export type ForgeEvent = { type: ForgeEventType; data: Record<string, unknown> };

export const forgeEvent = <K extends ForgeEventType>(type: K, data: z.input<(typeof EventSchemas)[K]>): ForgeEvent => ({ type, data: EventSchemas[type].parse(data) as Record<string, unknown> });

export interface ForgeState {
  /** Issue number -> the task it became. */
  issues: Map<number, { taskId: string; url: string; takenAt: string; submitted: boolean }>;
  etags: Map<string, string>;
  /** Lower-case login -> the account id it was pinned to (the first pin holds). */
  pins: Map<string, number>;
  /** Issue number -> the author whose issue was not taken. */
  refused: Map<number, string>;
  /** Thread key (`issue:12`, `pull:7`) -> the highest comment id read. */
  lastComment: Map<string, number>;
  /** Thread key -> the time of the last comment read (GitHub's `since`). */
  lastCommentAt: Map<string, string>;
  /** `<taskId>:<what>` -> the comment being told (not yet confirmed by `told`): its mark, by whom, since when. */
  telling: Map<string, { mark: string; by: string; at: string }>;
  /** `<taskId>:plan` / `<taskId>:result` -> the mark last told (plan version, result state + sha). */
  told: Map<string, string>;
}

export function foldForgeState(s: StreamState): ForgeState {
  const state: ForgeState = { issues: new Map(), pins: new Map(), refused: new Map(), etags: new Map(), lastComment: new Map(), lastCommentAt: new Map(), telling: new Map(), told: new Map() };
  for (const record of s.records) {
    for (const event of record.events) {
      if (!Object.hasOwn(EventSchemas, event.type)) continue;
      const parsed = EventSchemas[event.type as ForgeEventType].safeParse(event.data);
      if (!parsed.success) continue;
      const d = parsed.data as Record<string, any>;
      switch (event.type) {
        case 'forge.issue-taken':
          if (!state.issues.has(d.issue)) state.issues.set(d.issue, { taskId: d.taskId, url: d.url, takenAt: record.at, submitted: false });
          break;
        case 'forge.issue-submitted': {
          const taken = state.issues.get(d.issue);
          if (taken) taken.submitted = true;
          break;
        }
        case 'forge.etag':
          state.etags.set(d.key, d.etag);
          break;
        case 'forge.issue-refused':
          state.refused.set(d.issue, d.author);
          break;
        case 'forge.comment-seen':
          if (d.id >= (state.lastComment.get(d.thread) ?? 0)) {
            state.lastComment.set(d.thread, d.id);
            if (d.at) state.lastCommentAt.set(d.thread, d.at);
          }
          break;
        case 'forge.user-pinned':
          if (!state.pins.has(d.login.toLowerCase())) state.pins.set(d.login.toLowerCase(), d.id);
          break;
        case 'forge.telling':
          state.telling.set(`${d.taskId}:${d.what}`, { mark: d.mark, by: d.by, at: record.at });
          break;
        case 'forge.told':
          state.told.set(`${d.taskId}:${d.what}`, d.mark);
          break;
      }
    }
  }
  return state;
}
