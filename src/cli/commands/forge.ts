/** orchestra forge: poll the configured forge for labelled issues and comments (once, or until stopped). */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program.command('forge')
    .description('turn labelled forge issues into tasks and bot mentions / `/approve vN` comments into commands (config forge; token GITHUB_TOKEN or GITLAB_TOKEN)')
    .option('--once', 'one poll, then exit')
    .action(ctx.act(async (ws, o, opts: { once?: boolean }) => {
      const { createLogger } = await import('../../core/log.js');
      const log = createLogger('forge');
      if (opts.once) {
        const { createPoller } = await import('../../adapters/forge/index.js');
        const report = await createPoller(ws, log).pollOnce();
        o.ok(report, [
          `issues taken: ${report.issuesTaken}, commands: ${report.commands}, refused: ${report.refused}, comments posted: ${report.told}, unchanged answers: ${report.notModified}`,
          ...(report.stopped ? [`stopped early: ${report.stopped}`] : []),
        ]);
        return;
      }
      const { runUp } = await import('../../app/up.js');
      const { stop, done } = await runUp(ws, { only: ['forge'], log });
      const onSignal = () => void stop();
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      await done;
      o.ok({ stopped: true }, ['stopped']);
    }));
}
