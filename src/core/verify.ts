import { join, relative } from 'node:path';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { describeError } from './errors.js';
import { isTempName, readdirSafe } from './fsutil.js';
import { git } from './journal.js';
import { ARTIFACTS_STREAM, AUDIT_STREAM, RECORD_DIRS } from './paths.js';
import { RECORD_FILE } from './record.js';
import type { Workspace } from './workspace.js';
import { loadSettledIndex, OpenTaskIndex } from './open-tasks.js';

export interface Finding { severity: 'damage' | 'warning'; kind: string; path: string; message: string }
export interface VerifyReport { ok: boolean; streams: number; records: number; findings: Finding[] }


export async function allStreams(ws: Workspace): Promise<string[]> {
  return [
    ...(await ws.store.listStreams('tasks')),
    ...(await ws.store.listStreams('workstreams')),
    ...(await ws.store.listStreams('context')),
    ...(await ws.store.listStreams('limits')),
    ARTIFACTS_STREAM,
    AUDIT_STREAM,
  ];
}

/** A stream's events directory relative to the root, as on disk (task streams are sharded). */
const eventsDir = (ws: Workspace, stream: string) => relative(ws.paths.root, ws.paths.streamDir(stream));

const DAMAGE_KIND = { unreadable: 'torn-record', oversized: 'oversized-record', 'not-regular': 'not-a-record-file' } as const;

/** Moves in a task stream that its workstream's state map does not allow (the fold ignored them). */
async function illegalMoves(ws: Workspace, stream: string): Promise<Finding[]> {
  const view = await ws.findTask(stream.slice('tasks/'.length));
  return (view?.illegalMoves ?? []).map((m) => ({
    severity: 'damage' as const,
    kind: 'illegal-transition',
    path: eventsDir(ws, stream),
    message: `record ${m.seq} of ${stream} moves the task ${m.claimedFrom} -> ${m.to}, which workstream ${view!.workstream} does not allow from ${m.from}; ignored (forged or written around orchestra)`,
  }));
}

/** Checks records, chains, transitions, sequences, leftovers and git; `ok` is false when anything is damaged. */
export async function verifyWorkspace(ws: Workspace): Promise<VerifyReport> {
  const findings: Finding[] = [];
  let records = 0;
  const streams = await allStreams(ws);
  for (const stream of streams) {
    const state = await ws.readStream(stream, { list: true });
    records += state.records.length;
    for (const d of state.damaged) findings.push({ severity: 'damage', kind: DAMAGE_KIND[d.kind], path: d.file, message: `record ${d.seq} of ${stream} is skipped: ${d.reason}` });
    for (const b of state.chainBreaks) findings.push({ severity: 'damage', kind: 'chain-break', path: b.file, message: b.reason });
    if (stream.startsWith('tasks/')) findings.push(...(await illegalMoves(ws, stream)));
    const present = new Set((await readdirSafe(ws.paths.streamDir(stream))).map((n) => RECORD_FILE.exec(n)?.[1]).filter(Boolean).map(Number));
    for (let seq = 1; seq <= state.lastSeq; seq++) {
      if (!present.has(seq)) findings.push({ severity: 'damage', kind: 'sequence-gap', path: eventsDir(ws, stream), message: `record ${seq} of ${stream} is missing (gap before ${state.lastSeq})` });
    }
    for (const temp of state.temps) findings.push({ severity: 'warning', kind: 'stray-temp', path: `${eventsDir(ws, stream)}/${temp}`, message: 'leftover temp file from an interrupted write (ignored by readers; safe to delete)' });
  }
  for (const claim of await readdirSafe(ws.paths.intake)) {
    findings.push({ severity: 'warning', kind: 'pending-intake', path: `.orchestra/intake/${claim}`, message: 'inbox file claimed but not yet recorded; the next intake scan finishes it' });
  }
  findings.push(...(await openIndexFindings(ws)));
  findings.push(...(await gitFindings(ws)));
  return { ok: !findings.some((f) => f.severity === 'damage'), streams: streams.length, records, findings };
}

/**
 * Entries of the settled-task index (open-tasks.ts) that the records contradict: the task is not
 * settled at that seq. A stale entry is trusted only while the task's signal shows that seq, so
 * this is a warning: deleting `.orchestra/index/` makes the next `up` read every task once.
 */
async function openIndexFindings(ws: Workspace): Promise<Finding[]> {
  const path = OpenTaskIndex.pathIn(ws.paths.runtime);
  const stale: string[] = [];
  for (const [id, seq] of await loadSettledIndex(path)) {
    const view = await ws.findTask(id);
    if (!view || (view.lastSeq === seq && !(await ws.isSettled(view)))) stale.push(id);
  }
  if (!stale.length) return [];
  return [{ severity: 'warning', kind: 'index-stale', path: '.orchestra/index/settled.json', message: `${stale.length} task(s) listed as settled are not (first: ${stale[0]}); delete .orchestra/index/ to rebuild it` }];
}

/**
 * `git status` of the record directories against the last commit. Commits do not keep git's
 * index current (see journal.ts), so the comparison uses a fresh temporary index built from HEAD.
 */
async function statusAgainstHead(ws: Workspace): Promise<string> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'orchestra-verify-'));
  const env = { GIT_INDEX_FILE: join(dir, 'index') };
  try {
    await git(ws.paths, ws.config, ['read-tree', 'HEAD'], undefined, env);
    return await git(ws.paths, ws.config, ['status', '--porcelain', '-z', '--untracked-files=all', '--', ...RECORD_DIRS], undefined, env);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Record files changed in the working tree or by a commit: records are append-only in both. */
async function gitFindings(ws: Workspace): Promise<Finding[]> {
  const findings: Finding[] = [];
  let status: string;
  let history: string;
  try {
    status = await statusAgainstHead(ws);
    history = await git(ws.paths, ws.config, ['log', '--diff-filter=MDR', '--name-only', '--format=%h', '--', ...RECORD_DIRS]);
  } catch (err) {
    return [{ severity: 'damage', kind: 'git', path: '.git', message: `git failed: ${describeError(err).message}` }];
  }
  let uncommitted = 0;
  for (const entry of status.split('\0').filter(Boolean)) {
    const code = entry.slice(0, 2);
    const path = entry.slice(3);
    if (code === '??' || code === 'A ') {
      if (!path.split('/').some(isTempName)) uncommitted++;
    } else findings.push({ severity: 'damage', kind: 'record-changed', path, message: `committed record was ${code.includes('D') ? 'deleted' : 'modified'} (records are append-only)` });
  }
  if (uncommitted > 0) findings.push({ severity: 'warning', kind: 'uncommitted', path: '.', message: `${uncommitted} record file(s) not committed yet (a running "orchestra up" commits them within seconds)` });
  const rewritten = history.split('\n').filter((l) => l.includes('/'));
  if (rewritten.length > 0) findings.push({ severity: 'damage', kind: 'history', path: rewritten[0]!, message: `${rewritten.length} record file(s) were modified or deleted by a commit` });
  return findings;
}
