import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { OrchestraError } from './errors.js';
import { runGit } from './git-run.js';
import { isObjectId } from './ids.js';

/**
 * Writes one workspace commit through a single `git fast-import`: the listed files' bytes as
 * they are on disk, the removed paths deleted, on top of the branch tip. No index is read or
 * written and no directory is listed, so a commit costs what it adds (plus the trees on the
 * paths it touches), never what the repository already holds.
 * Preconditions: the caller holds the committer lock; `add` are regular files relative to `root`.
 * Invariant: the branch only moves forward. fast-import refuses to move a branch to a commit that
 * does not contain its current tip, so a concurrent writer makes the commit fail, never vanish.
 */
export interface ImportedCommit {
  branch: string;
  /** The tip to build on; undefined for the first commit of the branch. */
  parent?: string;
  message: string;
  committer: { name: string; email: string };
  add: string[];
  remove: string[];
  /** Filled with the blob id of each added file as streamed (the bytes the commit holds). */
  streamed?: Map<string, string>;
}

/** Returns the new commit's id. */
export async function importCommit(root: string, commit: ImportedCommit): Promise<string> {
  const run = await runGit(['fast-import', '--quiet', '--done'], { cwd: root, input: importStream(commit, root) });
  const sha = run.stdout.trim();
  if (run.code !== 0 || !isObjectId(sha)) {
    const why = run.stderr.trim().slice(0, 500) || (run.feedError instanceof Error ? run.feedError.message : `exit ${run.code}`);
    throw new OrchestraError('GIT_ERROR', `git fast-import failed in the workspace: ${why}`);
  }
  return sha;
}

/** The fast-import command stream of one commit; file bytes are read one file at a time. */
async function* importStream(c: ImportedCommit, root: string): AsyncGenerator<Buffer> {
  const message = Buffer.from(c.message, 'utf8');
  const who = `${identityPart(c.committer.name)} <${identityPart(c.committer.email)}> ${Math.floor(Date.now() / 1000)} +0000`;
  yield Buffer.from(`commit ${c.branch}\nmark :1\ncommitter ${who}\ndata ${message.length}\n`);
  yield message;
  yield Buffer.from(`\n${c.parent ? `from ${c.parent}\n` : ''}`);
  // Deletions first: fast-import applies the lines in order, and a file replaced by a directory
  // (ai/notes -> ai/notes/inner.md) must lose the file before the directory's files arrive.
  for (const path of c.remove) yield Buffer.from(`D ${quotePath(path)}\n`);
  for (const path of c.add) {
    const bytes = await fs.readFile(join(root, path));
    c.streamed?.set(path, blobId(bytes, c.parent?.length === 64 ? 'sha256' : 'sha1'));
    yield Buffer.from(`M 100644 inline ${quotePath(path)}\ndata ${bytes.length}\n`);
    yield bytes;
    yield Buffer.from('\n');
  }
  yield Buffer.from('\nget-mark :1\ndone\n');
}

/** A name or address as fast-import accepts it: no angle brackets, no line breaks. */
const identityPart = (s: string) => s.replace(/[<>\n\r\0]/g, '').trim() || 'orchestra';

/** fast-import takes a path as is unless it starts with a quote or holds a line break: then C-style quoted. */
function quotePath(path: string): string {
  if (!/^"|[\0-\x1f"\\\x7f]/.test(path)) return path;
  const bytes = Buffer.from(path, 'utf8');
  let out = '"';
  for (const b of bytes) {
    if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += '\\\\';
    else if (b < 0x20 || b === 0x7f) out += `\\${b.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  // Bytes >= 0x80 were copied as Latin-1 characters above; re-encode them as octal escapes.
  return out.replace(/[\x80-\xff]/g, (ch) => `\\${ch.charCodeAt(0).toString(8)}`) + '"';
}

/** The id git gives a file's bytes as a blob (sha1, or sha256 for a sha256 repository). */
export function blobId(bytes: Buffer, algorithm: 'sha1' | 'sha256'): string {
  return createHash(algorithm).update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

/** True when `bytes` are the blob `id` (its length says the repository's hash): no git process needed. */
export function isBlob(bytes: Buffer, id: string | undefined): boolean {
  return id !== undefined && blobId(bytes, id.length === 64 ? 'sha256' : 'sha1') === id;
}
