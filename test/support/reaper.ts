import type { ChildProcess } from 'node:child_process';

/**
 * Background processes by the directory they work in, so a temp dir's cleanup can kill what still
 * writes there before removing it. node:test runs `after` hooks in the order they were added, and
 * a temp dir is made before the processes that use it: without this its removal would race them.
 */
const live = new Set<{ dir: string; child: ChildProcess; exited: Promise<unknown> }>();

export function track(dir: string, child: ChildProcess, exited: Promise<unknown>): void {
  const entry = { dir, child, exited };
  live.add(entry);
  void exited.then(() => live.delete(entry));
}

/** Kills every tracked process working under `dir` and waits (up to 5 s each) for it to exit. */
export async function reapUnder(dir: string): Promise<void> {
  const mine = [...live].filter((e) => e.dir === dir || e.dir.startsWith(`${dir}/`));
  for (const { child } of mine) {
    try {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  await Promise.all(mine.map((e) => Promise.race([e.exited, new Promise((r) => setTimeout(r, 5000).unref())])));
}
