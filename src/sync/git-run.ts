import { OrchestraError } from '../core/errors.js';

/**
 * The sync layer's git runner for the workspace repo (spec §20): like journal.ts's `git()` but
 * with a time limit (a hung remote must not hold a round forever), no prompts (a missing
 * credential fails at once), no hooks, and the exit code handed back for the commands whose
 * "no" is an answer (merge-base --is-ancestor, a refused push). Never a force push: no caller
 * passes one and `push` below refuses anything that is not a plain fast-forward refspec.
 */
export interface GitResult { code: number; stdout: Buffer; stderr: string; timedOut: boolean }

export async function runGit(cwd: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number; author?: { name: string; email: string } } = {}): Promise<GitResult> {
  const { execa } = await import('execa');
  const author = opts.author ?? { name: 'Orchestra', email: 'orchestra@localhost' };
  const result = await execa('git', ['-c', `user.name=${author.name}`, '-c', `user.email=${author.email}`, '-c', 'commit.gpgsign=false', '-c', 'core.hooksPath=/dev/null', ...args], {
    cwd,
    input: opts.input,
    reject: false,
    encoding: 'buffer',
    stripFinalNewline: false,
    timeout: opts.timeoutMs,
    env: { GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', SSH_ASKPASS: 'true', GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes' },
  });
  return {
    code: typeof result.exitCode === 'number' ? result.exitCode : -1,
    stdout: Buffer.from(result.stdout as Uint8Array),
    stderr: Buffer.from((result.stderr ?? new Uint8Array()) as Uint8Array).toString('utf8').trim().slice(0, 2000),
    timedOut: Boolean(result.timedOut),
  };
}

/** Runs git and returns trimmed stdout; a non-zero exit is GIT_ERROR with git's message. */
export async function gitText(cwd: string, args: string[], opts: Parameters<typeof runGit>[2] = {}): Promise<string> {
  const r = await runGit(cwd, args, opts);
  if (r.code !== 0) throw new OrchestraError('GIT_ERROR', `git ${args[0]} failed in the workspace: ${r.stderr.slice(0, 500) || `exit ${r.code}`}`);
  return r.stdout.toString('utf8').trim();
}

/**
 * Reads many blobs in one `git cat-file --batch` process. Returns id -> bytes; a missing object
 * is left out (the caller treats it as not there).
 */
export async function readBlobs(cwd: string, ids: string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  if (ids.length === 0) return out;
  const r = await runGit(cwd, ['cat-file', '--batch'], { input: ids.join('\n') + '\n' });
  if (r.code !== 0) throw new OrchestraError('GIT_ERROR', `git cat-file failed in the workspace: ${r.stderr.slice(0, 500)}`);
  const buf = r.stdout;
  let at = 0;
  while (at < buf.length) {
    const nl = buf.indexOf(0x0a, at);
    if (nl < 0) break;
    const header = buf.subarray(at, nl).toString('utf8');
    const m = /^([0-9a-f]{40,64}) (\w+) (\d+)$/.exec(header);
    if (!m) {
      at = nl + 1; // "<id> missing"
      continue;
    }
    const size = Number(m[3]);
    out.set(m[1]!, buf.subarray(nl + 1, nl + 1 + size));
    at = nl + 1 + size + 1;
  }
  return out;
}
