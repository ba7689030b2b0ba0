/**
 * The Telegram adapter: a thin bot that turns what a person does into inbox files and tells the
 * chat what happened, read from the workspace. It never calls a loop.
 *
 *   const bot = await runTelegram(ws, { log });   // started; long polling
 *   ...; await bot.stop();
 *
 * As a loop of `orchestra up`: `createTelegramLoop(env)` (not started).
 */
import { Bot, GrammyError } from 'grammy';
import { describeError, OrchestraError } from '../../core/errors.js';
import { createLogger, type Logger } from '../../core/log.js';
import type { Workspace } from '../../core/workspace.js';
import type { Loop, LoopEnv } from '../../loops/loop.js';
import { installHandlers } from './bot.js';
import { BOT_COMMANDS } from './help.js';
import { Messenger } from './messenger.js';
import { Notifier } from './notifier.js';
import { StateFile } from './state.js';
import { adminChats, AlertNotices } from './alerts.js';
import { telegramEnv } from '../../core/environment.js';

export { esc, htmlToText, renderPlan, splitHtml } from './format.js';
export { resolveTaskId, telegramActor } from './bot.js';

export interface TelegramOptions {
  /** Bot token; default env TELEGRAM_BOT_TOKEN. */
  token?: string;
  /** Bot API root (no trailing slash); default env TELEGRAM_API_ROOT, then config telegram.apiRoot. */
  apiRoot?: string;
  /** Telegram user ids allowed to act; default config telegram.allowedUsers plus env TELEGRAM_ALLOWED_USERS. */
  allowedUsers?: Array<string | number>;
  /** Chat told about tasks that came from elsewhere (CLI, files); default env TELEGRAM_NOTIFY_CHAT. */
  notifyChat?: number;
  /** Long-poll timeout of getUpdates in seconds (default 30). */
  pollTimeoutSeconds?: number;
  log?: Logger;
  /** Environment to read the variables above from (default process.env). */
  env?: NodeJS.ProcessEnv;
}


/** Settings from options, environment and config; a missing token is one clear error. */
export function resolveTelegramSettings(ws: Workspace, opts: TelegramOptions = {}) {
  const env = telegramEnv(opts.env ?? process.env);
  const token = (opts.token ?? env.token ?? '').trim();
  if (!token) {
    throw new OrchestraError('MISSING_API_KEY', 'TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and export TELEGRAM_BOT_TOKEN=<token>');
  }
  const apiRoot = (opts.apiRoot ?? env.apiRoot ?? ws.config.telegram.apiRoot)?.trim().replace(/\/+$/, '') || undefined;
  const allowed = new Set(
    (opts.allowedUsers ? opts.allowedUsers.map(String) : [...ws.config.telegram.allowedUsers, ...env.allowedUsers]).map((s) => s.trim()).filter(Boolean),
  );
  const notify = opts.notifyChat ?? env.notifyChat;
  const notifyChat = notify !== undefined && Number.isFinite(notify) ? notify : undefined;
  return { token, apiRoot, allowed, notifyChat };
}

export class TelegramLoop implements Loop {
  readonly name = 'telegram';
  readonly bot: Bot;
  private readonly state: StateFile;
  private readonly notifier: Notifier;
  private readonly alerts: AlertNotices;
  private readonly busy: () => boolean;
  private polling?: Promise<void>;
  private started?: Promise<void>;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly ws: Workspace, private readonly opts: TelegramOptions = {}) {
    const settings = resolveTelegramSettings(ws, opts);
    const log = (this.log = opts.log ?? createLogger('telegram'));
    this.bot = new Bot(settings.token, settings.apiRoot ? { client: { apiRoot: settings.apiRoot } } : {});
    const messenger = new Messenger(this.bot.api, log);
    this.state = new StateFile(ws.paths.runtime);
    this.notifier = new Notifier(ws, this.state, messenger, log, settings.notifyChat !== undefined ? { defaultChat: settings.notifyChat } : {});
    this.alerts = new AlertNotices(ws, messenger, adminChats(ws.config.monitoring.telegramAdmins), log);
    if (settings.allowed.size === 0) log.warn('no Telegram user is allowed (telegram.allowedUsers / TELEGRAM_ALLOWED_USERS): every request is refused');
    this.busy = installHandlers(this.bot, { ws, log, allowed: settings.allowed, state: this.state, messenger, notifier: this.notifier }).busy;
  }

  /** Checks the token (getMe), catches up on what happened while away, then long-polls. Idempotent. */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.bot.init().catch((err) => {
        const unauthorized = err instanceof GrammyError && err.error_code === 401;
        throw new OrchestraError(unauthorized ? 'UNAUTHORIZED' : 'PROVIDER_ERROR', unauthorized ? 'Telegram refused the bot token (TELEGRAM_BOT_TOKEN)' : `cannot reach the Telegram Bot API: ${describeError(err).message}`);
      });
      await this.state.load();
      await this.notifier.start();
      await this.alerts.start();
      await this.bot.api.setMyCommands(BOT_COMMANDS).catch((err) => this.log.warn('setMyCommands failed', describeError(err)));
      let ready!: () => void;
      const onStart = new Promise<void>((r) => (ready = r));
      this.polling = this.bot
        .start({ timeout: this.opts.pollTimeoutSeconds ?? 30, allowed_updates: ['message', 'callback_query'], onStart: () => ready() })
        .catch((err) => {
          this.log.error('telegram polling stopped', describeError(err));
          ready();
        });
      await onStart;
      this.log.info('telegram bot running', { bot: this.bot.botInfo.username, workspace: this.ws.paths.root });
    })();
    return this.started;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.started?.catch(() => undefined);
    if (this.bot.isRunning()) await this.bot.stop().catch((err) => this.log.warn('stopping telegram polling failed', describeError(err)));
    await this.polling;
    await this.notifier.stop();
    await this.alerts.stop();
  }

  async idle(): Promise<boolean> {
    return !this.busy() && this.notifier.idle() && this.alerts.idle();
  }
}

/** Creates and starts the bot; `stop()` ends long polling and the watcher. */
export async function runTelegram(ws: Workspace, opts: TelegramOptions = {}): Promise<TelegramLoop> {
  const loop = new TelegramLoop(ws, opts);
  await loop.start();
  return loop;
}

/** For the loop registry (`orchestra up`): not started. */
export function createTelegramLoop(env: LoopEnv, opts: TelegramOptions = {}): TelegramLoop {
  return new TelegramLoop(env.ws, { log: env.log, ...opts });
}
