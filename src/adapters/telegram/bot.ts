/**
 * What a person can do in the chat, wired: the door (access.ts) first, then the slash commands,
 * the button presses and the plain-text replies (handlers/). Every change goes through the inbox;
 * reads come from the workspace; whether a command applies is the pipeline's rule (actions.ts).
 */
import type { Bot } from 'grammy';
import { describeError } from '../../core/errors.js';
import { accessControl } from './access.js';
import { installCallbacks } from './handlers/callbacks.js';
import { installCommands } from './handlers/commands.js';
import { installReplies } from './handlers/replies.js';
import { Session, type BotDeps } from './session.js';

export { MIN_PREFIX, resolveTaskId, telegramActor, type BotDeps } from './session.js';

export function installHandlers(bot: Bot, deps: BotDeps): { busy: () => boolean } {
  const session = new Session(deps);
  const access = accessControl(session);
  bot.use(access.middleware);
  installCommands(bot, session);
  installCallbacks(bot, session);
  installReplies(bot, session); // last: it answers any text the commands did not take
  bot.catch((err) => deps.log.error('telegram update failed', { update: err.ctx.update.update_id, ...describeError(err.error) }));
  return { busy: access.busy };
}
