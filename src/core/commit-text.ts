/**
 * The text of a workspace commit: a subject naming the stream and what happened, and one line per
 * committed file (at most MAX_BODY_LINES), built from the records themselves; every line reduced
 * to printable single-line text, whatever a record holds.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describeActor } from './actor.js';
import { taskExtensions } from './model/task-extension.js';
import { CONFIG_PATHS, isTaskShard, type WorkspacePaths } from './paths.js';
import { parseRecord, RECORD_FILE } from './record.js';
import { shortLine, singleLine } from './text-sanitize.js';

const MAX_BODY_LINES = 60;

/** What a commit of these files says. */
export async function describeFiles(paths: WorkspacePaths, files: string[]): Promise<{ title: string; body: string }> {
  const lines: string[] = [];
  const eventLines: string[] = [];
  const subjects = new Set<string>();
  let first = '';
  for (const file of files.sort()) {
    const parts = file.split('/');
    const name = parts[parts.length - 1]!;
    const match = RECORD_FILE.exec(name);
    const isConfig = CONFIG_PATHS.includes(parts[0]!);
    // tasks/<shard>/<id>/... (or tasks/<id>/... in a workspace made before shards)
    const owner = parts[0] === 'tasks' && isTaskShard(parts[1] ?? '') ? parts[2] : parts[1];
    const subject = parts[0] === 'tasks' || parts[0] === 'workstreams' ? `${parts[0] === 'tasks' ? 'task' : 'workstream'} ${owner}` : isConfig ? 'config' : parts[0]!;
    subjects.add(subject);
    if (first && lines.length >= MAX_BODY_LINES) continue; // the rest only count; no need to read them
    let line: string;
    if (isConfig) {
      const present = await fs.lstat(join(paths.root, file)).then(() => true, () => false);
      line = `config: ${file} ${present ? 'changed' : 'removed'}`;
    } else if (parts[0] === 'prompts') {
      line = `prompts: prompt text ${name.replace(/\.md$/, '')} recorded`;
    } else if (match && parts[parts.length - 2] === 'events') {
      const text = await fs.readFile(join(paths.root, file), 'utf8').catch(() => '');
      const parsed = parseRecord(text, Number(match[1]));
      line = parsed.ok
        ? `${subject} #${parsed.record.seq}: ${parsed.record.events.map((e) => summarizeEvent(e.type, e.data)).join('; ')} (by ${describeActor(parsed.record.actor)})`
        : `${subject}: unreadable record ${name}`;
      eventLines.push(line);
    } else {
      line = `${subject}: record file ${parts.slice(parts[0] === 'tasks' && isTaskShard(parts[1] ?? '') ? 3 : 2).join('/') || name}`;
    }
    if (!first) first = line;
    if (lines.length < MAX_BODY_LINES) lines.push(`- ${line}`);
  }
  if (files.length > MAX_BODY_LINES) lines.push(`- ... and ${files.length - MAX_BODY_LINES} more`);
  const strip = (line: string) => line.replace(/ \(by [^)]*\)$/, '');
  const records = eventLines.length;
  const title = subjects.size === 1
    ? `${strip(eventLines.at(-1) ?? first)}${records > 1 ? ` (+${records - 1} earlier)` : ''}`.slice(0, 150)
    : `${files.length} records across ${subjects.size} streams`;
  return { title, body: lines.join('\n') };
}

/** A commit message from any text: control characters (NUL, ESC, CR, bidi marks) removed, lines kept. */
export function commitMessage(title: string, body: string): string {
  const clean = (line: string) => singleLine(line).trimEnd();
  const subject = clean(title).trim() || 'records';
  const lines = body.split('\n').map(clean).filter((l) => l.length > 0);
  return `${subject}\n\n${lines.join('\n')}\n`;
}

export function summarizeEvent(type: string, data: Record<string, unknown>): string {
  const d = data as Record<string, any>;
  const cut = shortLine;
  switch (type) {
    case 'task.created': return `created "${cut(d.title)}" in ${d.workstream} (${d.state})`;
    case 'task.moved': return `moved ${d.from} -> ${d.to}${d.reason ? ` (${cut(d.reason)})` : ''}`;
    case 'task.updated': return `updated ${Object.keys(d).join(', ')}`;
    case 'task.commented': return `comment: "${cut(d.text)}"`;
    case 'task.archived': return 'archived';
    case 'task.retried': return `automatic retry ${d.retry}`;
    case 'retry.exhausted': return `retries exhausted after ${d.retries}`;
    case 'lease.acquired': return `claimed by ${d.owner} for ${d.purpose}, attempt ${d.attempt}`;
    case 'lease.released': return `released attempt ${d.attempt}${d.outcome ? ` (${d.outcome})` : ''}`;
    case 'lease.expired': return `lease attempt ${d.attempt} expired`;
    case 'trigger.firing': return `trigger ${d.triggerId} firing`;
    case 'trigger.fired': return `trigger ${d.triggerId} ${d.ok ? 'succeeded' : 'failed'}`;
    case 'workstream.created': return `workstream ${d.name} created`;
    case 'workstream.updated': return 'workstream updated';
    case 'trigger.added': return `trigger ${d.id} added on ${d.on}`;
    case 'trigger.removed': return `trigger ${d.id} removed`;
    case 'artifact.put': return `artifact ${d.path} stored`;
    case 'inbox.rejected': return `inbox file ${d.file} rejected (${d.code})`;
    case 'inbox.skipped': return `inbox file ${d.file} skipped: it cannot be moved (${d.code})`;
    case 'access.refused': return `access refused: ${cut(d.what)}`;
    case 'context.written': return `${d.kind} ${cut(d.scope)}/${cut(d.key)} written${d.reason === 'rotation' ? ' (re-encrypted by a key rotation)' : ''}`;
    case 'context.removed': return `${cut(d.scope)}/${cut(d.key)} removed`;
    case 'context.secret-read': return `secret ${cut(d.ref)} read (${cut(d.purpose)})`;
    case 'context.key-rotated': return `context key rotated to ${d.to}: ${d.reencrypted} re-encrypted`;
    default:
      for (const ext of taskExtensions()) {
        const line = ext.summarize?.(type, data);
        if (line !== undefined) return line;
      }
      return type;
  }
}
