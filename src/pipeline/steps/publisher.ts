import { describeError } from '../../core/errors.js';
import { commitAll } from '../../vcs/commit.js';
import { commitIdentity } from '../../vcs/identity.js';
import { pushTaskBranch } from '../../vcs/push.js';
import { resolvePushRemote } from '../../vcs/remote.js';
import { removeWorktree } from '../../vcs/worktree.js';
import { renderCommitMessage } from '../commit-message.js';
import { DEV_WORKSTREAM } from '../dev-workstream.js';
import { readPrompt } from '../prompts.js';
import { executionTarget } from '../target.js';
import { publishScanSecrets } from '../granted-secrets.js';
import type { Loop, LoopEnv } from '../../loops/loop.js';
import { failTask } from './step-outcome.js';
import { TaskLoop } from '../../loops/task-loop.js';
import { pullRequestEvents } from '../pull-request.js';

/**
 * The git agent: commits the worktree on task/<id> and pushes that branch only. Both steps check
 * the world first (an existing task commit, a remote branch already at the commit), so a crash
 * and a re-run never make a second commit or a second push. Changes holding a known secret are
 * neither committed nor pushed: the task fails with SECRET_IN_CHANGES' reason (names, not values).
 * After the push, the branch's draft pull request is looked up or opened (pull-request.ts),
 * recorded in the same release as the push; a forge failure leaves a warning, not a failure.
 */
export function createPublisherLoop(env: LoopEnv): Loop {
  const { ws, log } = env;
  return new TaskLoop(env, {
    name: 'publisher',
    purpose: 'publish',
    // With several machines the worktree is where the executor ran: only that machine publishes.
    wants: (task) => task.workstream === DEV_WORKSTREAM && task.state === 'publishing' && ws.acceptance.holdsLocally(task.dev.execution?.worktree),
    giveUp: (lease, reason) => failTask(lease, 'publish', reason),
    async work({ lease, task, signal }) {
      const exec = task.dev.execution;
      try {
        if (!exec) throw new Error('the task has no execution to publish');
        const message = renderCommitMessage(await readPrompt(ws, 'git/rules.md'), task, Math.max(1, task.claims.publish ?? 0));
        // First: the mirror's config is made ours again, before any git call in the worktree.
        const target = await executionTarget(ws, task, exec);
        const author = await commitIdentity(ws.config.git.author);
        const secrets = await publishScanSecrets(ws, task, 'publisher');
        const commit = await commitAll({ worktreePath: exec.worktree, message, author, taskId: task.id, baseCommit: exec.baseCommit, ...(secrets ? { secrets } : {}), ...(task.dev.stagedIndex ? { stagedIndex: task.dev.stagedIndex } : {}) });
        const remote = await resolvePushRemote({ configured: ws.config.remote, repo: target.resolved });
        await ws.acceptance.confirm(lease); // the claim still holds on the shared records (spec §20)
        const pushed = await pushTaskBranch({ worktreePath: exec.worktree, remote, branch: exec.branch, protectedBranches: ws.config.protectedBranches, baseCommit: exec.baseCommit, ...(secrets ? { secrets } : {}), ...(commit.ref ? { head: { sha: commit.sha, ref: commit.ref } } : {}) });
        // After the push, never before: a request needs the branch on the remote. Never fails the task.
        const pullRequest = await pullRequestEvents({ config: ws.config.forge, task: await ws.task(task.id), branch: pushed.branch, base: exec.base, pushRemote: pushed.remoteUrl, signal });
        // Stopped while waiting on the forge: nothing recorded; the next run re-checks push and request.
        if (signal.aborted) return;
        await lease.release((view) => (view.state !== 'publishing' ? [] : [
          { type: 'git.committed', data: { sha: commit.sha, created: commit.created, message } },
          { type: 'git.pushed', data: { remote: pushed.remoteUrl, branch: pushed.branch, sha: pushed.sha, link: pushed.link, pushed: pushed.pushed } },
          ...pullRequest,
          { type: 'task.moved', data: { from: 'publishing', to: 'completed', reason: `pushed ${pushed.branch}` } },
        ]), 'published');
        log.info('branch pushed', { task: task.id, branch: pushed.branch, link: pushed.link });
        for (const e of pullRequest) log.info(e.type === 'forge.pr-opened' ? 'pull request ready' : 'no pull request', { task: task.id, ...e.data });
        // Clean by construction: commitAll committed the staged worktree (the final diff's index, or `add -A`), so no status is asked.
        await removeWorktree({ repoPath: target.objects, worktreesDir: ws.paths.worktrees, taskId: task.id, force: true }).catch(() => undefined);
      } catch (err) {
        const { code, message } = describeError(err);
        if (code === 'LEASE_LOST') return;
        if (code === 'CLAIM_UNCONFIRMED') throw err; // the loop retries later; nothing was pushed
        await failTask(lease, 'publish', message);
      }
    },
  });
}
