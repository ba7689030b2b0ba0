/**
 * The spawn server: a small process that starts programs for a large one (spawner.ts). Linux
 * copies the page tables of the process that forks, so a spawn blocks its caller for a time that
 * grows with the caller's memory (15 ms at 260 MB here, 53 ms at 1.1 GB); forked from this
 * process (~50 MB), a spawn costs about 1 ms, and not on the caller's event loop.
 *
 * Reads request frames (spawn-frames.ts) on stdin, runs each with runDirect, answers with a frame
 * on stdout, in the order the programs end. Invariants: when stdin ends (the caller closed it
 * after a quiet spell, or exited, or died: kill -9 included) every program still running is killed
 * and the server exits. It decides nothing itself: no idle timer that could race a request.
 */
import { encodeFrame, FrameReader } from './spawn-frames.js';
import { killAllRunning, runDirect, type RunRequest } from './run-buffered.js';

// A Ctrl-C reaches the caller's terminal group, not this one; if one comes, the caller decides.
process.on('SIGINT', () => undefined);

interface Request extends Omit<RunRequest, 'input'> { id: number; hasInput: boolean }

const reader = new FrameReader<Request>(
  ({ header, buffers }) => {
    void runDirect({ ...header, ...(header.hasInput ? { input: buffers[0] ?? Buffer.alloc(0) } : {}) }).then((r) => {
      const { stdout, stderr, ...rest } = r;
      process.stdout.write(encodeFrame({ id: header.id, ...rest }, [stdout, stderr]));
    });
  },
  () => process.exit(2),
);

process.stdin.on('data', (chunk: Buffer) => reader.push(chunk));
const callerGone = () => {
  // Nothing started for the caller may outlive it: this server leads its own process group
  // (spawner.ts starts it detached), so the group is every program it ran and their children.
  killAllRunning();
  try {
    process.kill(0, 'SIGKILL');
  } catch {
    process.exit(0);
  }
};
process.stdin.on('end', callerGone);
process.stdin.on('error', callerGone);
process.stdout.on('error', callerGone);
process.on('SIGTERM', callerGone);
process.on('SIGHUP', callerGone);
