import './dev-fold.js'; // registers the dev section of task views; every reader of task.dev imports this module
import type { StateMap } from '../core/model/workstream.js';

/** The flagship workstream: Claude plans, a person approves, Gemini executes, git publishes. */
export const DEV_WORKSTREAM = 'dev';

export const DEV_STATES: StateMap = {
  planning: ['planned', 'failed', 'aborted'],
  planned: ['planning', 'approved', 'aborted'],
  approved: ['executing', 'failed', 'aborted'],
  executing: ['publishing', 'failed', 'aborted'],
  publishing: ['completed', 'failed', 'aborted'],
  completed: ['planning'], // feedback starts the next round (decide.ts); no loop acts on a completed task
  failed: ['approved', 'planning', 'aborted'],
  aborted: ['approved', 'planning'],
};

/** States only a person's command leaves: settled for the loops (see WorkstreamCreatedSchema.settledStates). */
export const SETTLED_DEV_STATES = ['completed'];

export const TERMINAL_DEV_STATES = new Set(['completed', 'failed', 'aborted']);
