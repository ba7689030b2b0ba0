/** orchestra context set|get|list|rm, orchestra key rotate|status */
import { constants, promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { cliActor } from '../../core/actor.js';
import { OrchestraError } from '../../core/errors.js';
import type { CliContext } from '../context.js';

interface ScopeOpt { scope?: string }

/** Reads at most `max` bytes (a value over it is refused, not cut): stdin or a file, never a link or FIFO. */
async function readBounded(source: 'stdin' | string, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const tooLarge = () => new OrchestraError('INVALID_INPUT', `the value is over ${max} bytes`);
  if (source === 'stdin') {
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) throw tooLarge();
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(source, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    throw new OrchestraError('INVALID_INPUT', `cannot read ${source}: ${(err as NodeJS.ErrnoException).code === 'ELOOP' ? 'it is a symbolic link' : (err as NodeJS.ErrnoException).code}`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new OrchestraError('INVALID_INPUT', `${source} is not a regular file`);
    if (st.size > max) throw tooLarge();
    return (await handle.readFile()).toString('utf8');
  } finally {
    await handle.close();
  }
}

export function register(program: Command, ctx: CliContext): void {
  const { act } = ctx;
  const context = program.command('context').description('shared knowledge and encrypted secrets (context store)');
  const SCOPE = ['--scope <scope>', 'workspace (default), repo:NAME or task:ID'] as const;

  context.command('set <key> [value]').description('write a new version of an entry (secrets: prefer --stdin or --file, so the value is not in shell history)')
    .option(...SCOPE).option('--secret', 'encrypt it (AES-256-GCM); read back only with get --reveal')
    .option('--file <file>', 'read the value from a file').option('--stdin', 'read the value from stdin')
    .action(act(async (ws, o, key: string, value: string | undefined, opts: ScopeOpt & { secret?: boolean; file?: string; stdin?: boolean }) => {
      const { parseScope } = await import('../../core/context/entry.js');
      const { writeContext, MAX_SECRET_BYTES } = await import('../../core/context/store.js');
      const { maybeAutoRotate } = await import('../../core/context/rotation.js');
      const scope = parseScope(opts.scope);
      const sources = [value !== undefined, Boolean(opts.file), Boolean(opts.stdin)].filter(Boolean).length;
      if (sources !== 1) throw new OrchestraError('INVALID_INPUT', 'give the value exactly one way: as an argument, --file FILE or --stdin');
      const kind = opts.secret ? 'secret' : 'knowledge';
      if (kind === 'secret' && value !== undefined && !o.json) process.stderr.write('note: a value given as an argument is kept in shell history and visible in ps; prefer --stdin or --file\n');
      const max = kind === 'secret' ? MAX_SECRET_BYTES : ws.config.context.maxContentBytes;
      let text = value ?? (await readBounded(opts.stdin ? 'stdin' : opts.file!, max));
      // `echo TOKEN | orchestra context set X --secret --stdin`: the newline is not part of the token.
      if (kind === 'secret' && value === undefined) text = text.replace(/\r?\n$/, '');
      const rotated = await maybeAutoRotate(ws, cliActor());
      const view = await writeContext(ws, { scope, key, kind, value: text, actor: cliActor() });
      const note = rotated ? ` (key rotated by age: ${rotated.from ?? '-'} -> ${rotated.to})` : '';
      o.ok({ ref: view.ref, version: view.version, kind: view.kind, ...(view.sealed ? { keyId: view.sealed.keyId } : { summary: view.summary }), ...(rotated ? { rotated } : {}) },
        `${view.ref} v${view.version} written (${view.kind}${view.sealed ? `, key ${view.sealed.keyId}` : ''})${note}`);
    }));

  context.command('get <key>').description('print an entry (a secret only with --reveal; the read is audited)')
    .option(...SCOPE).option('--at-version <n>', 'an older version').option('--reveal', 'print a secret\'s value')
    .action(act(async (ws, o, key: string, opts: ScopeOpt & { atVersion?: string; reveal?: boolean }) => {
      const { parseScope, formatRef } = await import('../../core/context/entry.js');
      const { readContext } = await import('../../core/context/store.js');
      const scope = parseScope(opts.scope);
      const view = await readContext(ws, `${formatRef(scope, key)}${opts.atVersion ? `@${opts.atVersion}` : ''}`);
      const meta = { ref: view.ref, version: view.version, versions: view.versions, kind: view.kind, at: view.at, writtenBy: view.writtenBy, ...(view.writer ? { writer: view.writer } : {}), ...(view.sealed ? { keyId: view.sealed.keyId } : {}) };
      if (view.kind === 'knowledge') {
        if (o.json) o.ok({ ...meta, summary: view.summary, content: view.content });
        else process.stdout.write(view.content!.endsWith('\n') ? view.content! : `${view.content}\n`);
        return;
      }
      if (!opts.reveal) {
        o.ok(meta, `${view.ref} v${view.version} is a secret (key ${view.sealed!.keyId}); add --reveal to print it (the read is audited)`);
        return;
      }
      if (opts.atVersion) throw new OrchestraError('INVALID_INPUT', 'only the current version of a secret can be revealed');
      const { openSecrets } = await import('../../core/context/secrets.js');
      const values = await openSecrets(ws, [view.ref], { actor: cliActor(), purpose: 'cli get --reveal', ...(scope.kind === 'task' ? { task: scope.id } : {}) });
      if (o.json) o.ok({ ...meta, value: values[view.ref] });
      else process.stdout.write(`${values[view.ref]}\n`);
    }));

  context.command('list').description('entries (latest versions), optionally of one scope').option(...SCOPE).option('--all', 'include removed entries')
    .action(act(async (ws, o, opts: ScopeOpt & { all?: boolean }) => {
      const { parseScope } = await import('../../core/context/entry.js');
      const { listContext } = await import('../../core/context/store.js');
      const entries = await listContext(ws, { ...(opts.scope ? { scopes: [parseScope(opts.scope)] } : {}), includeRemoved: Boolean(opts.all) });
      const rows = entries.map((e) => ({ ref: e.ref, version: e.version, kind: e.kind, summary: e.summary, at: e.at, writtenBy: e.writtenBy, removed: e.removed, ...(e.sealed ? { keyId: e.sealed.keyId } : {}) }));
      o.ok(rows, rows.length ? rows.map((r) => `${r.ref}@${r.version}  ${r.kind}${r.removed ? ' (removed)' : ''}  ${r.summary}  (${r.writtenBy}, ${r.at})`) : 'no context entries');
    }));

  context.command('rm <key>').description('remove an entry (a tombstone: its versions stay in the records and git)').option(...SCOPE)
    .action(act(async (ws, o, key: string, opts: ScopeOpt) => {
      const { parseScope } = await import('../../core/context/entry.js');
      const { removeContext } = await import('../../core/context/store.js');
      const view = await removeContext(ws, parseScope(opts.scope), key, cliActor());
      o.ok({ ref: view.ref, version: view.version, removed: true }, `${view.ref} removed`);
    }));

  const key = program.command('key').description('the context store\'s encryption keys');
  key.command('rotate').description('new key version; current secrets re-encrypted as new records; unneeded old keys retired')
    .action(act(async (ws, o) => {
      const { rotateKeys } = await import('../../core/context/rotation.js');
      const r = await rotateKeys(ws, cliActor());
      o.ok(r, [
        `current key ${r.to}${r.created ? ' (new)' : ''}${r.from && r.from !== r.to ? `, was ${r.from}` : ''}; ${r.reencrypted} secret(s) re-encrypted`,
        r.retired.length ? `retired: ${r.retired.join(', ')}` : 'no key retired',
        ...(r.kept.length ? [`kept (still needed): ${r.kept.join(', ')}`] : []),
        ...r.failures.map((f) => `could not re-encrypt ${f.ref}: [${f.code}] ${f.message}`),
      ]);
      if (r.failures.length) process.exitCode = 1;
    }));
  key.command('status').action(act(async (ws, o) => {
    const { keyStatus } = await import('../../core/context/rotation.js');
    const s = await keyStatus(ws);
    o.ok(s, [
      s.current ? `current key ${s.current.id} (${s.current.source}${s.current.ageDays !== undefined ? `, ${s.current.ageDays} days old` : ''})${s.rotationDue ? ' — rotation due' : ''}` : 'no key yet (made by the first secret)',
      ...s.keys.map((k) => `${k.id}  ${k.source}  created ${k.createdAt}  ${k.secrets} current secret(s)`),
    ]);
  }));
}
