import { forTerminal } from './text-sanitize.js';
import { logSilenced } from './environment.js';
import { redactCredentials } from './redact.js';

/** One line per event on stderr: `time level [loop] message key=value ...`. Quiet in tests unless asked. No credentials (redact.ts). */
export type Logger = {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(name: string): Logger;
};

const quiet = () => logSilenced();

/** `text`: the line above; `json`: one JSON object per line (`{time, level, loop, message, ...fields}`). */
export type LogFormat = 'text' | 'json';

export function createLogger(name = 'orchestra', sink: (line: string) => void = (l) => process.stderr.write(l + '\n'), format: LogFormat = 'text'): Logger {
  const emit = (level: string) => (message: string, fields: Record<string, unknown> = {}) => {
    if (quiet()) return;
    if (format === 'json') {
      // JSON.stringify escapes control characters and newlines: the line stays one line.
      sink(redactCredentials(JSON.stringify({ ...fields, time: new Date().toISOString(), level, loop: name, message })));
      return;
    }
    const extra = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
    // Values come from records and file names: never let them drive the terminal or break the line.
    sink(redactCredentials(forTerminal(`${new Date().toISOString().slice(11, 23)} ${level.padEnd(5)} [${name}] ${message}${extra ? ' ' + extra : ''}`).replace(/\n/g, '\\n')));
  };
  return { info: emit('info'), warn: emit('warn'), error: emit('error'), child: (child) => createLogger(`${name}/${child}`, sink, format) };
}
