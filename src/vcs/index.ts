export { git, gitLine, gitMaybe, gitOk, refExists, revParse, GitExitError, type GitOptions } from './git.js';
export { resolveRepo, ensureMirror, isRemoteUrl, redactUrl, mirrorDirName, MIRROR_MARKER, type ResolvedRepo, type RepoKind } from './repo-source.js';
export { detectBase, prepareWorktree, removeWorktree, resolveBranchRef, taskBranchName, TASK_BRANCH_PREFIX, type BaseInfo, type PreparedWorktree } from './worktree.js';
export { diffAgainstBase, hasChanges, changedFiles, type WorktreeDiff } from './changes.js';
export { commitAll, withTaskTrailer, taskIdFromMessage, TASK_TRAILER, type GitIdentity } from './commit.js';
export { pushTaskBranch, assertPushAllowed, ALWAYS_PROTECTED_BRANCHES, type PushResult } from './push.js';
export { branchLink } from './links.js';
export { resolvePushRemote, remoteBranchSha, normalizeRemote, remoteUrlOf } from './remote.js';
