/** What the bot can do: the /help text and the command menu (setMyCommands). */
export const HELP = [
  '<b>Orchestra</b> turns chat messages into tasks and commands.',
  '',
  '/task &lt;repo&gt; &lt;what to do&gt; — new dev task (or /task alone and answer two questions)',
  '/list — recent tasks',
  '/status [id] — a task in detail, or what needs you',
  '/plan &lt;id&gt; — the latest plan with its buttons',
  '/feedback &lt;id&gt; &lt;text&gt; — ask for a revised plan (or reply to a plan message)',
  '/approve &lt;id&gt; [version] — approve a plan',
  '/abort &lt;id&gt; — stop a task',
  '/retry &lt;id&gt; [replan] — retry a failed or aborted task',
  '/cancel — drop a question in progress',
  '',
  'An id can be shortened to a unique prefix of at least 6 characters.',
].join('\n');

export const BOT_COMMANDS = [
  { command: 'task', description: 'New task: /task <repo> <what to do>' },
  { command: 'list', description: 'Recent tasks' },
  { command: 'status', description: 'Task status: /status [id]' },
  { command: 'plan', description: 'Show the latest plan: /plan <id>' },
  { command: 'feedback', description: 'Revise a plan: /feedback <id> <text>' },
  { command: 'approve', description: 'Approve a plan: /approve <id> [version]' },
  { command: 'abort', description: 'Stop a task: /abort <id>' },
  { command: 'retry', description: 'Retry a task: /retry <id>' },
  { command: 'help', description: 'What the bot can do' },
];
