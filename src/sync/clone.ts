import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { OrchestraError } from '../core/errors.js';
import { exists } from '../core/fsutil.js';
import type { Workspace } from '../core/workspace.js';
import { runGit } from './git-run.js';

/**
 * Making a clone shared (spec §20). `attachRemote`: an existing workspace gets the sync remote
 * (the caller then runs a round, which pushes its history). `cloneWorkspace`: `git clone` of a
 * workspace remote into a new directory; the caller then initialises the local-only state
 * (.orchestra/, inbox/), which is never in git, so it starts fresh on each machine. Context keys
 * are not shared through git either: a machine that needs secrets gets the key out of band
 * (ORCHESTRA_CONTEXT_KEY_FILE, or a copy of .orchestra/context-keys/).
 */
const URL_LIKE = /^(?:[a-z][a-z0-9+.-]*:\/\/|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:|\/|\.{1,2}\/)[^\s\0]*$/;

export function checkRemoteUrl(url: string): string {
  if (url.length > 2000 || !URL_LIKE.test(url) || url.startsWith('-') || /^ext::|^fd::/i.test(url)) {
    throw new OrchestraError('INVALID_INPUT', `not a git remote URL this command takes: ${JSON.stringify(url.slice(0, 200))} (an absolute path, ./path, ssh://, https://, file:// or user@host:path)`);
  }
  return url;
}

export async function attachRemote(ws: Workspace, url: string): Promise<'added' | 'unchanged'> {
  checkRemoteUrl(url);
  const name = ws.config.sync.remote;
  const current = await runGit(ws.paths.root, ['config', '--get', `remote.${name}.url`]);
  const have = current.stdout.toString('utf8').trim();
  if (current.code === 0 && have) {
    if (have === url) return 'unchanged';
    throw new OrchestraError('CONFLICT', `the workspace already has a remote "${name}" (${have}); remove it with git remote remove ${name}, or set config sync.remote to another name`);
  }
  const r = await runGit(ws.paths.root, ['remote', 'add', name, url]);
  if (r.code !== 0) throw new OrchestraError('GIT_ERROR', `git remote add failed: ${r.stderr.slice(0, 300)}`);
  return 'added';
}

export async function cloneWorkspace(url: string, dir: string, opts: { branch?: string; timeoutMs?: number } = {}): Promise<string> {
  checkRemoteUrl(url);
  const target = resolve(dir);
  if ((await exists(target)) && (await fs.readdir(target)).length > 0) throw new OrchestraError('CONFLICT', `${target} exists and is not empty; join into a new directory`);
  const r = await runGit(process.cwd(), ['clone', '--quiet', '--origin', 'origin', '--branch', opts.branch ?? 'main', '--', url, target], { timeoutMs: opts.timeoutMs ?? 120_000 });
  if (r.code !== 0) {
    throw new OrchestraError('SYNC_UNREACHABLE', `cannot clone ${url}: ${(r.stderr.split('\n').find((l) => l.trim()) ?? 'git clone failed').replace(/^fatal: /, '')}`);
  }
  if (!(await exists(join(target, 'orchestra.json')))) {
    await fs.rm(target, { recursive: true, force: true });
    throw new OrchestraError('INVALID_INPUT', `${url} is not an Orchestra workspace (no orchestra.json on its ${opts.branch ?? 'main'} branch)`);
  }
  return target;
}
