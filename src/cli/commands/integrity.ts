/** orchestra verify|replay|schema: the workspace's health, its rebuild from the records, the published formats. */
import type { Command } from 'commander';
import { OrchestraError } from '../../core/errors.js';
import type { CliContext } from '../context.js';
import { formatUsd } from '../../core/text-sanitize.js';

export function register(program: Command, ctx: CliContext): void {
  const { out, open, wsDir } = ctx;
  program.command('verify').description('check the workspace for damage; non-zero exit if any').action(async () => {
    const o = out();
    try {
      const { verifyWorkspace } = await import('../../core/verify.js');
      const report = await verifyWorkspace(await open());
      o.ok(report, [
        `${report.streams} streams, ${report.records} records: ${report.ok ? 'no damage' : 'DAMAGE FOUND'}`,
        ...report.findings.map((f) => `  ${f.severity === 'damage' ? 'DAMAGE ' : 'warning'} ${f.kind}: ${f.path}: ${f.message}`),
      ]);
      if (!report.ok) process.exit(2);
    } catch (err) {
      o.fail(err);
    }
  });
  program.command('replay').description('rebuild all state from the records and print a summary').action(async () => {
    const o = out();
    try {
      const { replayWorkspace } = await import('../../core/replay.js');
      const s = await replayWorkspace(wsDir());
      o.ok(s, [
        `replayed ${s.records} records (${s.events} events) in ${s.streams} streams in ${s.ms} ms`,
        `${s.workstreams} workstreams, ${s.tasks} tasks: ${Object.entries(s.byState).map(([k, v]) => `${v} ${k}`).join(', ') || 'none'}`,
        `model calls recorded: ${s.usage.modelCalls}, cost ${formatUsd(s.usage.costUsd)}${s.damaged ? `; ${s.damaged} unreadable record(s) skipped (run verify)` : ''}`,
      ]);
    } catch (err) {
      o.fail(err);
    }
  });
  program.command('schema [name]').description('print the JSON Schema of a format: task, command, record, plan, config')
    .action(async (name?: string) => {
      const o = out();
      try {
        const { PUBLISHED_SCHEMAS, jsonSchema } = await import('../../app/schemas.js');
        if (!name) {
          o.ok(Object.keys(PUBLISHED_SCHEMAS), Object.entries(PUBLISHED_SCHEMAS).map(([k, v]) => `${k.padEnd(8)} ${v.about}`));
          return;
        }
        if (!(name in PUBLISHED_SCHEMAS)) throw new OrchestraError('NOT_FOUND', `no schema "${name}" (schemas: ${Object.keys(PUBLISHED_SCHEMAS).join(', ')})`);
        const schema = jsonSchema(name as keyof typeof PUBLISHED_SCHEMAS);
        o.ok(schema, JSON.stringify(schema, null, 2));
      } catch (err) {
        o.fail(err);
      }
    });
}
