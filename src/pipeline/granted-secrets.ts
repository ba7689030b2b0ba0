/**
 * Which context secrets a dev task's steps are granted, and what that means for publishing.
 * Interim source of the grant: config `context.setupSecrets` (the setup step's secrets); per-agent
 * profiles will replace it here, and the delivery (`secretEnvFor`) and scan list
 * (`secretsToScanFor`) stay as they are.
 */
import { loopActor } from '../core/actor.js';
import { repoScopeName } from '../core/context/entry.js';
import { secretsToScanFor } from '../core/context/secrets.js';
import type { TaskView } from '../core/model/task.js';
import type { NamedSecret } from '../core/secret-scan.js';
import type { Workspace } from '../core/workspace.js';

export function grantedSecretNames(ws: Workspace): readonly string[] {
  return ws.config.context.setupSecrets;
}

/**
 * The secrets a diff, commit or push of this task is scanned for: undefined (the default scan of
 * this process's secret variables) when no context secret was granted, else those plus the
 * granted values (opened and audited as `publish scan` by `step`).
 */
export async function publishScanSecrets(ws: Workspace, task: TaskView, step: string): Promise<NamedSecret[] | undefined> {
  const granted = grantedSecretNames(ws);
  if (granted.length === 0) return undefined;
  const repo = typeof task.fields.repo === 'string' ? repoScopeName(task.fields.repo) : undefined;
  return secretsToScanFor(ws, granted, { actor: loopActor(step), purpose: 'publish scan', task: task.id, ...(repo ? { repo } : {}) });
}
