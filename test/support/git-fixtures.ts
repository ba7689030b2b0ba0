/** Temp-dir git fixtures for the vcs tests: a bare "remote" and a clone with commits. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ID = ['-c', 'user.name=Fixture', '-c', 'user.email=fixture@example.invalid', '-c', 'commit.gpgsign=false'];

/** Runs git synchronously with a fixed identity; returns trimmed stdout. */
export function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', [...ID, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export function tempDir(prefix = 'orchestra-vcs-'): { dir: string; cleanup: () => void } {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Fixture {
  root: string;
  /** Bare repository acting as the remote. */
  remote: string;
  /** Non-bare clone of `remote` (the user's checkout). */
  repo: string;
  worktrees: string;
  cache: string;
  cleanup: () => void;
}

/** Bare remote + clone with `main` (and `development` unless disabled), both pushed. */
export function makeFixture(opts: { development?: boolean } = {}): Fixture {
  const { dir: root, cleanup } = tempDir();
  const remote = join(root, 'remote.git');
  const repo = join(root, 'repo');
  sh(root, 'init', '-q', '--bare', '-b', 'main', remote);
  sh(root, 'init', '-q', '-b', 'main', repo);
  writeFileSync(join(repo, 'README.md'), '# fixture\n');
  writeFileSync(join(repo, '.gitignore'), 'ignored.txt\n');
  sh(repo, 'add', '-A');
  sh(repo, 'commit', '-q', '-m', 'initial');
  sh(repo, 'remote', 'add', 'origin', remote);
  sh(repo, 'push', '-q', 'origin', 'main');
  if (opts.development !== false) {
    sh(repo, 'checkout', '-q', '-b', 'development');
    writeFileSync(join(repo, 'dev.txt'), 'dev\n');
    sh(repo, 'add', '-A');
    sh(repo, 'commit', '-q', '-m', 'dev work');
    sh(repo, 'push', '-q', 'origin', 'development');
    sh(repo, 'checkout', '-q', 'main');
  }
  sh(repo, 'fetch', '-q', 'origin');
  return { root, remote, repo, worktrees: join(root, 'worktrees'), cache: join(root, 'cache'), cleanup };
}

/** refname → sha for every branch in a repository. */
export function branches(repo: string): Record<string, string> {
  const out = sh(repo, 'for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads');
  return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
}
