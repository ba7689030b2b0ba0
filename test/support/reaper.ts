import type { ChildProcess } from 'node:child_process';

/**
 * Background processes by the directory they work in, so a temp dir's cleanup can kill what still
 * writes there before removing it. node:test runs `after` hooks in the order they were added, and
 * a temp dir is made before the processes that use it: without this its removal would race them.
 *
 * Children are started in their own process group (`detached`), and killed as a group, so what
 * they start (git, test commands, sandboxes) dies with them; every child still tracked when the
 * test process exits (a failed or timed-out test whose cleanup did not run) is killed then.
 */
const live = new Set<{ dir: string; child: ChildProcess; exited: Promise<unknown> }>();

export function track(dir: string, child: ChildProcess, exited: Promise<unknown>): void {
  const entry = { dir, child, exited };
  live.add(entry);
  void exited.then(() => live.delete(entry));
}

/** SIGKILL to the child's process group (and the child itself); harmless when it is gone. */
export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  for (const target of [-child.pid, child.pid]) {
    try {
      process.kill(target, 'SIGCONT');
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Kills every tracked process working under `dir` and waits (up to 5 s each) for it to exit. */
export async function reapUnder(dir: string): Promise<void> {
  const mine = [...live].filter((e) => e.dir === dir || e.dir.startsWith(`${dir}/`));
  for (const { child } of mine) killGroup(child);
  await Promise.all(mine.map((e) => Promise.race([e.exited, new Promise((r) => setTimeout(r, 5000).unref())])));
}

// Last resort: whatever a test left running dies with the test process.
process.on('exit', () => {
  for (const { child } of live) killGroup(child);
});
