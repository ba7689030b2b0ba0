/** orchestra artifact put|get|list */
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { cliActor } from '../../core/actor.js';
import { resolveTaskRef } from '../../core/task-ref.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  const { act } = ctx;
  const artifact = program.command('artifact').description('work products stored by path');
  artifact.command('put <path>').option('--file <file>', 'read content from a file (default: stdin)').option('--task <id>', 'the task it belongs to')
    .action(act(async (ws, o, path: string, opts: { file?: string; task?: string }) => {
      const { putArtifact } = await import('../../core/ops/artifacts.js');
      // Streamed: a huge file or an endless pipe is cut off at storage.maxArtifactBytes.
      const content = opts.file ? createReadStream(opts.file) : process.stdin;
      const ref = await putArtifact(ws, path, content, cliActor(), opts.task === undefined ? undefined : await resolveTaskRef(ws, opts.task));
      o.ok(ref, `stored ${path} (${ref.size} bytes, sha256 ${ref.sha256.slice(0, 12)})`);
    }));
  artifact.command('get <path>').action(act(async (ws, o, path: string) => {
    const { getArtifact } = await import('../../core/ops/artifacts.js');
    const { ref, content } = await getArtifact(ws, path);
    if (o.json) o.ok({ ...ref, content: content.toString('utf8') });
    else process.stdout.write(content);
  }));
  artifact.command('list [prefix]').action(act(async (ws, o, prefix?: string) => {
    const { listArtifacts } = await import('../../core/ops/artifacts.js');
    const refs = await listArtifacts(ws, prefix ?? '');
    o.ok(refs, refs.map((r) => `${r.path}  ${r.size} bytes  ${r.at}${r.task ? `  task ${r.task}` : ''}`));
  }));
}
