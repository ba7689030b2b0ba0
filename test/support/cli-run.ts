/** Runs the built CLI as a child process, the way a user would: package.json's bin, bin/orchestra.cjs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { killGroup, track } from './reaper.js';
import { scaled } from './timeouts.js';

export const CLI = fileURLToPath(new URL('../../../bin/orchestra.cjs', import.meta.url));

export interface CliResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

const childEnv = (extra: Record<string, string> = {}) => ({ ...process.env, ORCHESTRA_LOG: 'silent', ORCHESTRA_DEBUG: '', ...extra });

/** `orchestra -w <root> ...args`, to completion. */
export function runCli(root: string, args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // Its own process group (detached), killed as a group at the timeout or by the reaper.
    const child = spawn(process.execPath, [CLI, '-w', root, ...args], { env: childEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    track(root, child, new Promise((r) => child.on('close', r)));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => killGroup(child), scaled(opts.timeoutMs ?? 30_000));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs with --json and parses stdout (`{"status":"ok","data":...}` or `{"status":"error",...}`). */
export async function runJson(root: string, args: string[], opts: Parameters<typeof runCli>[2] = {}): Promise<CliResult & { json: any }> {
  const result = await runCli(root, ['--json', ...args], opts);
  let json: unknown;
  try {
    json = JSON.parse(result.stdout);
  } catch {
    throw new Error(`orchestra ${args.join(' ')} printed no JSON (exit ${result.code}): ${result.stdout}${result.stderr}`);
  }
  return { ...result, json };
}

/** Like runCli but asserts exit 0 and returns trimmed stdout. */
export async function cliOk(root: string, args: string[], opts: Parameters<typeof runCli>[2] = {}): Promise<string> {
  const r = await runCli(root, args, opts);
  if (r.code !== 0) throw new Error(`orchestra ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}

export interface Running {
  child: ChildProcess;
  /** Resolves on exit with the code/signal and everything printed. */
  exited: Promise<CliResult>;
  output(): string;
}

/** Starts a long-running node script (default: the CLI with `-w root`) in the background. */
export function spawnNode(script: string, args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [script, ...args], { env: childEnv(env), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  const workspace = args[args.indexOf('-w') + 1];
  // Tracked even without a workspace: the reaper's exit hook kills whatever is left.
  track(args.includes('-w') && workspace ? workspace : '', child, exited);
  return { child, exited, output: () => stdout + stderr };
}

export function spawnCli(root: string, args: string[], env: Record<string, string> = {}): Running {
  return spawnNode(CLI, ['-w', root, ...args], env);
}

/** Kills a still-running child (test cleanup); harmless when it already exited. */
export function killIfRunning(running: Running): void {
  // The group too: what the child started (git, tests) must not outlive the test.
  killGroup(running.child);
}
