/**
 * Handing secret values to the code that needs them, and recording that it happened.
 *
 * `openSecrets` is the one way to a secret's plaintext outside the store: it resolves names in the
 * reader's scopes (task, then repository, then workspace), decrypts, and appends one
 * `context.secret-read` record to the audit stream (which entry and version, key id, who, for
 * what task and purpose; never the value) before returning anything. `secretEnvFor` turns granted
 * names into a sandboxed process's environment plus the values to mask in its output; it does not
 * decide what is granted (profiles or config do).
 *
 * Invariants: no value is returned unless its audit record was written; a name that is missing or
 * cannot be decrypted fails the whole call (a step never runs with part of its secrets).
 */
import type { Actor } from '../actor.js';
import { OrchestraError } from '../errors.js';
import { knownSecrets, type NamedSecret } from '../secret-scan.js';
import { AUDIT_STREAM } from '../paths.js';
import type { Workspace } from '../workspace.js';
import { checkKey, formatRef, parseRef, SECRET_KEY_PATTERN, SECRET_READ, type EntryView, type Scope } from './entry.js';
import { decryptEntry, readContext } from './store.js';

export interface SecretReader {
  actor: Actor;
  /** Why: `setup`, `cli get --reveal`, `tests`, ... */
  purpose: string;
  /** The task the value is for, if any (its scope is searched first). */
  task?: string;
  /** The repository scope name of that task, if any (searched after the task's). */
  repo?: string;
}

/** Where a bare secret name is looked up, most specific first. */
function scopesOf(reader: SecretReader): Scope[] {
  return [...(reader.task ? [{ kind: 'task', id: reader.task } as const] : []), ...(reader.repo ? [{ kind: 'repo', name: reader.repo } as const] : []), { kind: 'workspace' }];
}

async function findSecret(ws: Workspace, name: string, reader: SecretReader): Promise<EntryView> {
  if (name.includes('/')) {
    const view = await readContext(ws, parseRef(name));
    if (view.kind !== 'secret') throw new OrchestraError('INVALID_INPUT', `${view.ref} is knowledge, not a secret`);
    return view;
  }
  checkKey(name, 'secret');
  for (const scope of scopesOf(reader)) {
    const view = await readContext(ws, { scope, key: name }).catch((err) => {
      if (err instanceof OrchestraError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    });
    if (view?.kind === 'secret') return view;
  }
  throw new OrchestraError('NOT_FOUND', `no secret named ${name} in ${scopesOf(reader).map((s) => formatRef(s, name)).join(', ')} (set it with: orchestra context set ${name} --secret --stdin)`);
}

/** Decrypts the named secrets for `reader`, after recording the read in the audit stream. */
export async function openSecrets(ws: Workspace, names: readonly string[], reader: SecretReader): Promise<Record<string, string>> {
  if (names.length === 0) return {};
  if (names.length > 64) throw new OrchestraError('INVALID_INPUT', 'at most 64 secrets can be opened at once');
  const found = await Promise.all([...new Set(names)].map(async (name) => ({ name, view: await findSecret(ws, name, reader) })));
  const values: Record<string, string> = {};
  for (const { name, view } of found) values[name] = await decryptEntry(ws, view);
  await ws.appendTo(AUDIT_STREAM, (s) => s, () => ({
    actor: reader.actor,
    events: found.map(({ view }) => ({
      type: SECRET_READ,
      data: { ref: view.ref, version: view.version, keyId: view.sealed!.keyId, purpose: reader.purpose.slice(0, 200), ...(reader.task ? { task: reader.task } : {}) },
    })),
  }));
  return values;
}

/**
 * The environment variables and mask list for a sandboxed process granted `grantedNames`: each
 * secret's key is its variable name (a ref `scope/KEY` gives the variable KEY). Pass `env` as the
 * process's granted environment and every value in `mask` to the output redaction.
 */
export async function secretEnvFor(ws: Workspace, grantedNames: readonly string[], reader: SecretReader): Promise<{ env: Record<string, string>; mask: string[] }> {
  const values = await openSecrets(ws, grantedNames, reader);
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    const variable = name.includes('/') ? parseRef(name).key : name;
    if (!SECRET_KEY_PATTERN.test(variable)) throw new OrchestraError('INVALID_INPUT', `secret ${name} cannot be an environment variable name`);
    env[variable] = value;
  }
  return { env, mask: Object.values(values) };
}

/**
 * What a publish-side secret scan looks for (vcs/secret-guard.ts): this process's secret-named
 * variables plus the values of the context secrets granted to the task's steps, since a step that
 * got one could have written it into the worktree. Each is opened (and audited) for this purpose;
 * a granted name that no longer exists is skipped (there is no value to look for).
 */
export async function secretsToScanFor(ws: Workspace, grantedNames: readonly string[], reader: SecretReader): Promise<NamedSecret[]> {
  const found: NamedSecret[] = [];
  for (const name of new Set(grantedNames)) {
    const values = await openSecrets(ws, [name], reader).catch((err) => {
      if (err instanceof OrchestraError && err.code === 'NOT_FOUND') return {};
      throw err;
    });
    for (const [key, value] of Object.entries(values)) found.push({ name: `context secret ${key}`, value });
  }
  return [...knownSecrets(), ...found];
}
