/**
 * Every setting Orchestra takes from the environment, read in this one place. The adapters and
 * the CLI ask here instead of reading `process.env` themselves. Tokens are returned to the code
 * that needs them and never copied into the config object (which can be printed).
 * Model keys and base URLs are read by the providers from the env they are given (tests pass
 * their own), through `providerEnv`.
 */
export interface TelegramEnv {
  token?: string;
  apiRoot?: string;
  allowedUsers: string[];
  notifyChat?: number;
}

const list = (value: string | undefined) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const nonEmpty = (value: string | undefined) => (value?.trim() ? value.trim() : undefined);

/** TELEGRAM_BOT_TOKEN, TELEGRAM_API_ROOT, TELEGRAM_ALLOWED_USERS (comma list), TELEGRAM_NOTIFY_CHAT. */
export function telegramEnv(env: NodeJS.ProcessEnv = process.env): TelegramEnv {
  const chat = Number(nonEmpty(env.TELEGRAM_NOTIFY_CHAT));
  return {
    ...(nonEmpty(env.TELEGRAM_BOT_TOKEN) ? { token: nonEmpty(env.TELEGRAM_BOT_TOKEN) } : {}),
    ...(nonEmpty(env.TELEGRAM_API_ROOT) ? { apiRoot: nonEmpty(env.TELEGRAM_API_ROOT) } : {}),
    allowedUsers: list(env.TELEGRAM_ALLOWED_USERS),
    ...(env.TELEGRAM_NOTIFY_CHAT && Number.isFinite(chat) ? { notifyChat: chat } : {}),
  };
}

/** ORCHESTRA_WEB_TOKEN. */
export function webTokenEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.ORCHESTRA_WEB_TOKEN;
}

/** ORCHESTRA_WEB_ADMIN_TOKEN: the web's admin token (the Security view); unset: no admin. */
export function webAdminTokenEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return nonEmpty(env.ORCHESTRA_WEB_ADMIN_TOKEN);
}

/** ORCHESTRA_WORKSPACE: the workspace when no --workspace is given. */
export function workspaceEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return nonEmpty(env.ORCHESTRA_WORKSPACE);
}

/** ORCHESTRA_LOG=silent quiets the loops' log lines. */
export function logSilenced(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ORCHESTRA_LOG === 'silent';
}

/** ORCHESTRA_DEBUG: print stack traces of unexpected errors. */
export function debugEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.ORCHESTRA_DEBUG);
}

/** ORCHESTRA_USER (else the login name): who a CLI actor is. */
export function userEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return nonEmpty(env.ORCHESTRA_USER);
}

/**
 * ORCHESTRA_CONTEXT_KEY (32 bytes as base64 or hex) or ORCHESTRA_CONTEXT_KEY_FILE (a path to
 * such a file): the context store's key for deployments that keep it outside the workspace.
 */
export function contextKeyEnv(env: NodeJS.ProcessEnv = process.env): { key?: string; file?: string } {
  const key = nonEmpty(env.ORCHESTRA_CONTEXT_KEY);
  const file = nonEmpty(env.ORCHESTRA_CONTEXT_KEY_FILE);
  return { ...(key ? { key } : {}), ...(file ? { file } : {}) };
}

/**
 * GITHUB_TOKEN / GITLAB_TOKEN: the forge's API token (forge-config.ts). Secret-named, so its value
 * is masked in command output and refused in commits (env-secrets.ts); never put in a record.
 */
export function forgeTokenEnv(kind: 'github' | 'gitlab', env: NodeJS.ProcessEnv = process.env): string | undefined {
  return nonEmpty(kind === 'github' ? env.GITHUB_TOKEN : env.GITLAB_TOKEN);
}
