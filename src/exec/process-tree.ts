/**
 * Finding and killing every process a sandboxed command started.
 *
 * The command is spawned detached, so it leads its own session and process group; killing the
 * group reaches everything that stayed in it. Processes that moved out (setsid, setpgid) are found
 * through /proc: by session, by process group, and by parent links from anything already known.
 * Members seen by periodic scans are remembered (pid + start time, so a reused pid is not hit), so
 * one that escaped and was orphaned is still killed later.
 *
 * ProcessGroup is the same interface without the /proc scans, for a command whose descendants
 * are confined otherwise (a PID namespace that dies with its leader).
 */
import { readdirSync, readFileSync } from 'node:fs';

interface ProcEntry {
  pid: number;
  ppid: number;
  pgrp: number;
  session: number;
  start: string;
}

/** A snapshot of /proc, or undefined where there is none (not Linux). */
function readProcTable(): Map<number, ProcEntry> | undefined {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const table = new Map<number, ProcEntry>();
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp session ... starttime(22) ..." — comm may hold spaces and ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(name);
    table.set(pid, {
      pid,
      ppid: Number(rest[1]),
      pgrp: Number(rest[2]),
      session: Number(rest[3]),
      start: rest[19] ?? '',
    });
  }
  return table;
}

export class ProcessTree {
  private readonly known = new Map<number, string>(); // pid -> start time

  constructor(readonly rootPid: number) {}

  /** Pids of the live members now (also remembers them). */
  scan(): number[] {
    const table = readProcTable();
    if (!table) return [];
    const members = new Set<number>();
    for (const entry of table.values()) {
      if (entry.pid === process.pid) continue;
      const knownStart = this.known.get(entry.pid);
      if (
        entry.pid === this.rootPid ||
        entry.pgrp === this.rootPid ||
        entry.session === this.rootPid ||
        (knownStart !== undefined && knownStart === entry.start)
      ) {
        members.add(entry.pid);
      }
    }
    const children = new Map<number, number[]>();
    for (const entry of table.values()) {
      const list = children.get(entry.ppid) ?? [];
      list.push(entry.pid);
      children.set(entry.ppid, list);
    }
    const queue = [...members];
    while (queue.length > 0) {
      const pid = queue.pop()!;
      for (const child of children.get(pid) ?? []) {
        if (child === process.pid || members.has(child)) continue;
        members.add(child);
        queue.push(child);
      }
    }
    for (const [pid] of this.known) if (!members.has(pid)) this.known.delete(pid);
    for (const pid of members) this.known.set(pid, table.get(pid)!.start);
    return [...members];
  }

  /** Sends `signal` to the process group and to every member found. Returns how many were found. */
  kill(signal: NodeJS.Signals): number {
    try {
      process.kill(-this.rootPid, signal);
    } catch {
      // group already empty
    }
    const members = this.scan();
    for (const pid of members) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    return members.length;
  }
}

/** Signals only the process group led by `rootPid` (see the header). */
export class ProcessGroup {
  constructor(readonly rootPid: number) {}

  /** The leader while it is alive (the group's other members are not looked for). */
  scan(): number[] {
    try {
      process.kill(this.rootPid, 0);
      return [this.rootPid];
    } catch {
      return [];
    }
  }

  kill(signal: NodeJS.Signals): number {
    try {
      process.kill(-this.rootPid, signal);
      return 1;
    } catch {
      return 0; // group already empty
    }
  }
}
