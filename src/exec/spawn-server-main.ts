/**
 * The spawn server: a small process that starts programs for a large one (spawner.ts). Linux
 * copies the page tables of the process that forks, so a spawn blocks its caller for a time that
 * grows with the caller's memory (15 ms at 260 MB here, 53 ms at 1.1 GB); forked from this
 * process (~50 MB), a spawn costs about 1 ms, and not on the caller's event loop.
 *
 * Reads request frames (spawn-frames.ts) on stdin, runs each with runDirect, answers with a frame
 * on stdout, in the order the programs end. A frame `{ bye: true }` is the caller closing it after
 * a quiet spell: nothing runs, it just exits. Invariants: when stdin ends without that (the caller
 * exited or died, kill -9 included) the server's process group (it leads one: spawner.ts starts it
 * detached) gets SIGTERM, then SIGKILL KILL_GRACE_MS later, so every program it ran, and their
 * children, end; SIGTERM first lets git remove its lock files. Signals meant for the caller's
 * terminal or service group (SIGINT, SIGTERM, SIGHUP) are ignored: the caller decides, and a
 * graceful stop of the caller keeps the git calls it waits for.
 */
import { encodeFrame, FrameReader } from './spawn-frames.js';
import { runDirect, type RunRequest } from '../core/run-whole.js';

const KILL_GRACE_MS = 1_000;

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);

interface Request extends Omit<RunRequest, 'input'> { id: number; hasInput: boolean; bye?: boolean }

let leaving = false;
const reader = new FrameReader<Request>(
  ({ header, buffers }) => {
    if (header.bye) {
      leaving = true;
      process.exit(0);
    }
    void runDirect({ ...header, ...(header.hasInput ? { input: buffers[0] ?? Buffer.alloc(0) } : {}) }).then((r) => {
      const { stdout, stderr, ...rest } = r;
      process.stdout.write(encodeFrame({ id: header.id, ...rest }, [stdout, stderr]));
    });
  },
  () => callerGone(),
);

/** Nothing started for the caller may outlive it: the group (this server included) ends. */
function callerGone(): void {
  if (leaving) return;
  leaving = true;
  try {
    process.kill(0, 'SIGTERM'); // ignored by this process (above), taken by the programs
  } catch {
    // no group left to signal
  }
  setTimeout(() => {
    try {
      process.kill(0, 'SIGKILL');
    } finally {
      process.exit(0);
    }
  }, KILL_GRACE_MS);
}

process.stdin.on('data', (chunk: Buffer) => reader.push(chunk));
process.stdin.on('end', callerGone);
process.stdin.on('error', callerGone);
process.stdout.on('error', callerGone);
