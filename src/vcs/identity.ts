/**
 * The identity commits are made with, passed to git as GIT_AUTHOR_* / GIT_COMMITTER_* (git itself
 * reads no user config): the configured `git.author` when it was changed from the default, else
 * user.name/user.email from the user's global git config (read once), else Orchestra's own.
 */
import { tmpdir } from 'node:os';
import { OrchestraError } from '../core/errors.js';
import { gitMaybe } from './git.js';

export interface GitIdentity {
  name: string;
  email: string;
}

export const DEFAULT_IDENTITY: Readonly<GitIdentity> = Object.freeze({ name: 'Orchestra', email: 'orchestra@localhost' });

let userIdentity: Promise<GitIdentity | undefined> | undefined;

function valid(s: string | null | undefined): s is string {
  return !!s && !!s.trim() && !/[<>\n\r\0]/.test(s);
}

/** user.name and user.email from the user's global config, or undefined (read once per process). */
export function userGitIdentity(): Promise<GitIdentity | undefined> {
  userIdentity ??= (async () => {
    const get = (key: string) => gitMaybe(tmpdir(), ['config', '--global', '--get', key], { userConfig: true });
    const [name, email] = await Promise.all([get('user.name'), get('user.email')]);
    return valid(name) && valid(email) ? { name: name.trim(), email: email.trim() } : undefined;
  })();
  return userIdentity;
}

/** The identity to commit as (see the module comment). */
export async function commitIdentity(configured?: GitIdentity): Promise<GitIdentity> {
  if (configured && (configured.name !== DEFAULT_IDENTITY.name || configured.email !== DEFAULT_IDENTITY.email)) return configured;
  return (await userGitIdentity()) ?? { ...DEFAULT_IDENTITY };
}

/** GIT_AUTHOR_* and GIT_COMMITTER_* for `author`; refuses names git would mangle. */
export function identityEnv(author: GitIdentity): Record<string, string> {
  const clean = (s: string, what: string): string => {
    const v = (s ?? '').trim();
    if (!valid(v)) throw new OrchestraError('INVALID_INPUT', `Invalid commit ${what}: '${s}'`);
    return v;
  };
  const name = clean(author.name, 'author name');
  const email = clean(author.email, 'author email');
  return { GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: email, GIT_COMMITTER_NAME: name, GIT_COMMITTER_EMAIL: email };
}
