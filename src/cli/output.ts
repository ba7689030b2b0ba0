import { describeError } from '../core/errors.js';
import { forTerminal } from '../core/text-sanitize.js';
import { debugEnabled } from '../core/environment.js';

export interface Output {
  json: boolean;
  /** Prints the result: `data` as JSON with --json, else the human text. */
  ok(data: unknown, text?: string | string[]): void;
  fail(err: unknown): never;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    ok(data, text) {
      if (json) process.stdout.write(JSON.stringify({ status: 'ok', data }, null, 2) + '\n');
      // Human text holds titles, comments and names from records: escape control characters so
      // nothing printed can move the cursor, retitle the terminal or hide text. JSON stays JSON.
      else if (text !== undefined) process.stdout.write(forTerminal(Array.isArray(text) ? text.join('\n') : text) + '\n');
    },
    fail(err) {
      const { code, message } = describeError(err);
      if (json) process.stdout.write(JSON.stringify({ status: 'error', code, message }) + '\n');
      else process.stderr.write(`error [${code}]: ${forTerminal(message)}\n`);
      if (debugEnabled() && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      process.exit(code === 'INTERNAL' ? 70 : 1);
    },
  };
}
