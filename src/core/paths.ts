import { join } from 'node:path';

/**
 * The workspace layout. Everything under tasks/, workstreams/, artifacts/, audit/ and prompts/ is
 * an immutable record tracked by git; orchestra.json and ai/ are config, committed when changed; .orchestra/ holds ephemeral state (leases heartbeats,
 * signals, intake claims, worktrees) and inbox/ is the drop folder: both stay out of git.
 */
export class WorkspacePaths {
  constructor(readonly root: string) {}
  get config() { return join(this.root, 'orchestra.json'); }
  get inbox() { return join(this.root, 'inbox'); }
  get rejected() { return join(this.root, 'inbox', 'rejected'); }
  get runtime() { return join(this.root, '.orchestra'); }
  get intake() { return join(this.runtime, 'intake'); }
  get signals() { return join(this.runtime, 'signals'); }
  get signalLog() { return join(this.runtime, 'signal-log'); }
  get heartbeats() { return join(this.runtime, 'leases'); }
  get committerLock() { return join(this.runtime, 'committer.lock'); }
  get worktrees() { return join(this.runtime, 'worktrees'); }
  get repoCache() { return join(this.runtime, 'repos'); }
  get tasks() { return join(this.root, 'tasks'); }
  get workstreams() { return join(this.root, 'workstreams'); }
  get artifactBlobs() { return join(this.root, 'artifacts', 'blobs'); }
  /** The text of every prompt set a model was called with, as `prompts/<hash>.md` (immutable). */
  get prompts() { return join(this.root, 'prompts'); }
  promptText(hash: string) { return join(this.prompts, `${hash}.md`); }

  taskDir(taskId: string) { return join(this.tasks, taskId); }
  taskRecords(taskId: string) { return join(this.tasks, taskId, 'records'); }
  /** A stream id is a relative path like `tasks/<id>` or `audit`; its records live in `<id>/events`. */
  streamDir(stream: string) { return join(this.root, stream, 'events'); }
}

export const streamOfTask = (taskId: string) => `tasks/${taskId}`;
export const streamOfWorkstream = (name: string) => `workstreams/${name}`;
export const ARTIFACTS_STREAM = 'artifacts';
export const AUDIT_STREAM = 'audit';
/**
 * The directories that hold records (and, under prompts/, the immutable texts of the prompt sets
 * models were called with): committed add-only by the journal, checked by verify.
 */
export const RECORD_DIRS: readonly string[] = ['tasks', 'workstreams', 'artifacts', 'audit', 'prompts', 'context', 'limits', 'forge'];
/**
 * The operator's configuration: not records. The journal commits every change to them (added,
 * edited or removed) as a new commit, so the history shows which config and prompt overrides
 * were in force when.
 */
export const CONFIG_PATHS: readonly string[] = ['orchestra.json', 'ai'];
