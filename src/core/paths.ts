import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { remembered } from './remember.js';

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
  /** Lists of written record files that a writer without the committer lock hands to its holder. */
  get journalNotes() { return join(this.runtime, 'journal-notes'); }
  get worktrees() { return join(this.runtime, 'worktrees'); }
  get repoCache() { return join(this.runtime, 'repos'); }
  get tasks() { return join(this.root, 'tasks'); }
  get workstreams() { return join(this.root, 'workstreams'); }
  get artifactBlobs() { return join(this.root, 'artifacts', 'blobs'); }
  /** The text of every prompt set a model was called with, as `prompts/<hash>.md` (immutable). */
  get prompts() { return join(this.root, 'prompts'); }
  promptText(hash: string) { return join(this.prompts, `${hash}.md`); }

  /**
   * A task's directory: `tasks/<shard>/<id>`, the shard being two hex digits of the id's hash, so
   * no git tree (and no directory) holds more than about 1/256 of the tasks: a commit rewrites
   * the trees on its path, and a flat tasks/ tree made every commit cost the whole workspace.
   * A workspace made before sharding keeps its flat `tasks/<id>` directories, found here as such.
   */
  taskDir(taskId: string) {
    const flat = join(this.tasks, taskId);
    if (this.legacyTasks().has(taskId)) return flat;
    return join(this.tasks, taskShard(taskId), taskId);
  }
  taskRecords(taskId: string) { return join(this.taskDir(taskId), 'records'); }
  /** A stream id is a relative path like `tasks/<id>` or `audit`; its records live in `<dir>/events`. */
  streamDir(stream: string) {
    if (stream.startsWith('tasks/')) return join(this.taskDir(stream.slice('tasks/'.length)), 'events');
    return join(this.root, stream, 'events');
  }

  /** Task directories of the flat layout (names under tasks/ that are not shards): read once. */
  private legacy?: Set<string>;
  private legacyTasks(): Set<string> {
    if (!this.legacy) {
      let names: string[] = [];
      try {
        names = readdirSync(this.tasks);
      } catch {
        // no tasks/ yet: nothing legacy
      }
      this.legacy = new Set(names.filter((n) => !SHARD.test(n) && !n.startsWith('.')));
    }
    return this.legacy;
  }
}

const SHARD = /^[0-9a-f]{2}$/;
/**
 * The shard directory of a task id: the first two hex digits of its sha1 (uniform whatever the id
 * looks like). Remembered: every path of a task goes through it, several times per append.
 */
export const taskShard: (taskId: string) => string = remembered(10_000, (taskId) => createHash('sha1').update(taskId).digest('hex').slice(0, 2));
/** True for a name under tasks/ that is a shard directory, not a (legacy, flat) task directory. */
export const isTaskShard = (name: string) => SHARD.test(name);

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
