/** orchestra init|up|demo|web|telegram: create a workspace and run things in the foreground. */
import type { Command } from 'commander';
import { OrchestraError } from '../../core/errors.js';
import { int, type CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  const { out, open, wsDir } = ctx;
  program
    .command('init')
    .description('create the workspace (git repo, layout, config, built-in workstreams); safe to repeat')
    .option('--remote <url>', 'share it through this git remote (pushes its history; other machines: orchestra join)')
    .action(async (opts: { remote?: string }) => {
      const o = out();
      try {
        const { initWorkspace } = await import('../../app/setup.js');
        const { workspace, created } = await initWorkspace(wsDir());
        const shared = opts.remote ? await (await import('./sync.js')).shareWorkspace(workspace, opts.remote) : undefined;
        o.ok({ workspace: workspace.paths.root, created, ...(shared ? { sync: shared } : {}) }, `${created ? 'created' : 'already initialised'}: ${workspace.paths.root}\ndrop task files into ${workspace.paths.inbox}${shared ? `\nshared through ${opts.remote}` : ''}`);
      } catch (err) {
        o.fail(err);
      }
    });

  program
    .command('up')
    .description('run the loops until SIGINT/SIGTERM')
    .option('--only <loops>', 'comma-separated loops to run (intake,triggers,retry,planner,executor,publisher,telegram,web,forge)')
    .option('--once', 'process everything pending, wait until idle, then exit')
    .option('--log-format <format>', 'text (default) or json: one JSON object per line, for progress and log lines')
    .action((opts: { only?: string; once?: boolean; logFormat?: string }) => runLoops(opts.only?.split(',').map((s) => s.trim()).filter(Boolean), opts.once, opts.logFormat));

  /**
   * Runs loops (all configured ones by default) in the foreground until SIGINT/SIGTERM or idle
   * with --once, printing one line per step per task on stdout (JSON lines with --log-format
   * json or --json) and the loops' log on stderr.
   */
  async function runLoops(only?: string[], once?: boolean, logFormat?: string) {
    const o = out();
    try {
      if (logFormat !== undefined && logFormat !== 'text' && logFormat !== 'json') {
        throw new OrchestraError('INVALID_INPUT', `--log-format must be text or json, not "${logFormat}"`);
      }
      const format = logFormat === 'json' || o.json ? 'json' : 'text';
      const ws = await open();
      const { runUp } = await import('../../app/up.js');
      const { createLogger } = await import('../../core/log.js');
      const print = (line: string) => void process.stdout.write(line + '\n');
      const { stop, done } = await runUp(ws, { only, once, log: createLogger('orchestra', undefined, format), progress: { print, format } });
      const onSignal = () => void stop();
      // `on`, not `once`: execa's signal-exit re-raises a signal that has no other listener left,
      // which killed the process (exit 143) before the loops stopped and released their leases.
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      await done;
      o.ok({ stopped: true });
      process.exit(0);
    } catch (err) {
      o.fail(err);
    }
  }

  program.command('demo').description('offline demo: sample repo, plan, approval, execution, pushed branch (no keys needed)')
    .option('--dir <dir>', 'where to create the demo (default: a new temp directory)')
    .action(async (opts: { dir?: string }) => {
      const o = out();
      try {
        const { runDemo } = await import('../../app/demo.js');
        const result = await runDemo({ dir: opts.dir, print: o.json ? () => undefined : (line) => process.stdout.write(line + '\n') });
        if (o.json) o.ok(result);
        process.exit(result.ok ? 0 : 1);
      } catch (err) {
        o.fail(err);
      }
    });

  program.command('web').description('serve the web dashboard (127.0.0.1 by default; prints the URL with its access token)')
    .option('--port <n>', 'port (default from config web.port)', int('port'))
    .option('--host <host>', 'interface to listen on (default 127.0.0.1)')
    .action(async (opts: { port?: number; host?: string }) => {
      const o = out();
      try {
        const ws = await open();
        const { startWeb } = await import('../../adapters/web/index.js');
        const web = await startWeb(ws, { ...(opts.port !== undefined ? { port: opts.port } : {}), ...(opts.host ? { host: opts.host } : {}) });
        ws.journal.start();
        o.ok({ url: web.url, openUrl: web.openUrl }, `Orchestra dashboard: ${web.openUrl}\n(the task loops run separately: orchestra up)`);
        const stop = async () => { await web.stop(); await ws.journal.stop(); process.exit(0); };
        process.on('SIGINT', () => void stop());
        process.on('SIGTERM', () => void stop());
      } catch (err) {
        o.fail(err);
      }
    });
  program.command('telegram').description('run the Telegram bot (TELEGRAM_BOT_TOKEN, TELEGRAM_ALLOWED_USERS)').action(() => runLoops(['telegram']));
}
