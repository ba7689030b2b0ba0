/**
 * Which context secrets a dev task's steps are granted, and what that means for publishing.
 * The grant is the `setup` security profile's `secrets` (names, or prefixes ending in `*`): an
 * exact name is always asked for (a missing one is a clear NOT_FOUND), a prefix stands for the
 * secrets of the task's scopes (task, repository, workspace) whose keys start with it. The store's
 * delivery (`secretEnvFor`) and scan list (`secretsToScanFor`) do not depend on where this comes from.
 */
import { loopActor } from '../core/actor.js';
import { repoScopeName, type Scope } from '../core/context/entry.js';
import { secretsToScanFor } from '../core/context/secrets.js';
import { listContext } from '../core/context/store.js';
import type { TaskView } from '../core/model/task.js';
import type { NamedSecret } from '../core/secret-scan.js';
import { grantedSecrets, resolveProfile } from '../core/security-profiles.js';
import type { Workspace } from '../core/workspace.js';

const repoOf = (task: TaskView) => (typeof task.fields.repo === 'string' ? repoScopeName(task.fields.repo) : undefined);

/** The secret names the `setup` profile grants for this task. */
export async function grantedSecretNames(ws: Workspace, task: TaskView, profileName = 'setup'): Promise<string[]> {
  const profile = resolveProfile(ws.config, profileName);
  if (profile.secrets.length === 0) return [];
  const exact = profile.secrets.filter((p) => !p.endsWith('*'));
  if (exact.length === profile.secrets.length) return exact;
  const repo = repoOf(task);
  const scopes: Scope[] = [{ kind: 'task', id: task.id }, ...(repo ? [{ kind: 'repo', name: repo } as const] : []), { kind: 'workspace' }];
  const present = (await listContext(ws, { scopes, kind: 'secret' })).map((e) => e.key);
  return [...new Set([...exact, ...grantedSecrets(profile, present).granted])];
}

/**
 * The secrets a diff, commit or push of this task is scanned for: undefined (the default scan of
 * this process's secret variables) when no context secret was granted, else those plus the
 * granted values (opened and audited as `publish scan` by `step`).
 */
export async function publishScanSecrets(ws: Workspace, task: TaskView, step: string): Promise<NamedSecret[] | undefined> {
  const granted = await grantedSecretNames(ws, task);
  if (granted.length === 0) return undefined;
  const repo = repoOf(task);
  return secretsToScanFor(ws, granted, { actor: loopActor(step), purpose: 'publish scan', task: task.id, ...(repo ? { repo } : {}) });
}
