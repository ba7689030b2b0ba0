/**
 * A workspace for the Telegram door's tests: one repository (`web`), fast loops, a fake Bot API
 * and a running bot that allows `user`. Everything is stopped and removed after the test.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTelegram } from '../../src/adapters/telegram/index.js';
import { initWorkspace } from '../../src/app/setup.js';
import { Workspace } from '../../src/core/workspace.js';
import { startFakeTelegram } from './fake-telegram.js';

interface Cleanup { after(fn: () => unknown): void }

export async function telegramWorkspace(t: Cleanup, prefix: string, user: number, config: Record<string, unknown> = {}) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }));
  await initWorkspace(dir);
  const defaults = JSON.parse(readFileSync(join(dir, 'orchestra.json'), 'utf8'));
  Object.assign(defaults.loops, { scanIntervalMs: 200, settleMs: 0 });
  const repo = join(dir, 'git', 'web');
  mkdirSync(repo, { recursive: true });
  execFileSync('git', ['init', '-q', repo]);
  writeFileSync(join(dir, 'orchestra.json'), JSON.stringify({ ...defaults, fsync: false, repos: { web: repo }, ...config }));
  const ws = await Workspace.open(dir);
  const tg = await startFakeTelegram({ maxPollMs: 300 });
  t.after(() => tg.close());
  const bot = await runTelegram(ws, { token: tg.token, apiRoot: tg.url, allowedUsers: [user], env: {}, pollTimeoutSeconds: 1 });
  t.after(() => bot.stop());
  return { dir, ws, tg };
}
