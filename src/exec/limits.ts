import os from 'node:os';
import { readFileSync } from 'node:fs';

/** Resource limits of a sandboxed command (config `sandbox`), applied with prlimit. */
export interface SandboxLimits {
  cpuSeconds?: number;
  memoryMb?: number;
  processes?: number;
  fileSizeMb?: number;
}

export const DEFAULT_LIMITS: Required<Omit<SandboxLimits, 'cpuSeconds'>> = {
  memoryMb: 4096,
  processes: 2048,
  fileSizeMb: 1024,
};

/** Soft limits currently in force (from /proc/self/limits); Infinity = unlimited or unknown. */
function currentSoftLimits(): Record<string, number> {
  const out: Record<string, number> = {};
  let text: string;
  try {
    text = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    out[m[1]!] = m[2] === 'unlimited' ? Infinity : Number(m[2]);
  }
  return out;
}

const MB = 1024 * 1024;

/** prlimit options for these limits, never above what is already in force (raising would fail). */
export function prlimitArgs(limits: SandboxLimits, timeoutMs: number): string[] {
  const current = currentSoftLimits();
  const cap = (name: string, value: number) => Math.max(1, Math.floor(Math.min(value, current[name] ?? Infinity)));
  // CPU is a per-process backstop: a process can not use more than wall time x cores before the
  // timeout kills it, so by default this never fires earlier than the timeout.
  const cpu = limits.cpuSeconds ?? Math.ceil(timeoutMs / 1000) * os.availableParallelism() + 5;
  const cpuSoft = cap('Max cpu time', cpu);
  const cpuHard = Math.max(cpuSoft, cap('Max cpu time', cpu + 1));
  return [
    `--cpu=${cpuSoft}:${cpuHard}`,
    `--data=${cap('Max data size', (limits.memoryMb ?? DEFAULT_LIMITS.memoryMb) * MB)}`,
    `--nproc=${cap('Max processes', limits.processes ?? DEFAULT_LIMITS.processes)}`,
    `--fsize=${cap('Max file size', (limits.fileSizeMb ?? DEFAULT_LIMITS.fileSizeMb) * MB)}`,
    '--core=0',
  ];
}

