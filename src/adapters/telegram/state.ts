/**
 * What the bot has already told, kept in `<workspace>/.orchestra/telegram/state.json` so a
 * restart does not repeat messages. Ephemeral: losing it costs at most some repeated (or, on a
 * fresh start, silently skipped) notifications, never a record.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { readFileSafe, writeAtomic } from '../../core/fsutil.js';

export interface ProgressNote {
  /** The execution run the message belongs to (its start time). */
  run: string;
  messageId: number;
  /** The text last shown, so an unchanged view is not edited again. */
  text: string;
}

export interface TaskNote {
  /** Chat to tell about this task. */
  chat?: number;
  /** Last state the chat was told about. */
  state?: string;
  /** Last plan version sent. */
  plan?: number;
  progress?: ProgressNote;
  /** Last seq looked at: unchanged tasks are not folded again. */
  seq?: number;
}

export interface BotState {
  version: 1;
  tasks: Record<string, TaskNote>;
  /** `<chat>:<message id>` of plan messages (and feedback prompts) -> task id, for replies. */
  messages: Record<string, string>;
}

const MAX_MESSAGES = 2000;

export class StateFile {
  readonly path: string;
  state: BotState = { version: 1, tasks: {}, messages: {} };
  /** False when there was no file: the first scan then records what exists without telling. */
  existed = false;
  private writing: Promise<void> = Promise.resolve();

  constructor(runtimeDir: string) {
    this.path = join(runtimeDir, 'telegram', 'state.json');
  }

  async load(): Promise<void> {
    const text = await readFileSafe(this.path);
    if (text === undefined) return;
    try {
      const raw = JSON.parse(text) as Partial<BotState>;
      this.state = { version: 1, tasks: raw.tasks ?? {}, messages: raw.messages ?? {} };
      this.existed = true;
    } catch {
      // a damaged ephemeral file: start over (it is rewritten on the next change)
      await fs.rename(this.path, `${this.path}.damaged`).catch(() => undefined);
    }
  }

  task(id: string): TaskNote {
    return (this.state.tasks[id] ??= {});
  }

  rememberMessage(chat: number, messageId: number, taskId: string): void {
    const messages = this.state.messages;
    messages[`${chat}:${messageId}`] = taskId;
    const keys = Object.keys(messages);
    if (keys.length > MAX_MESSAGES) for (const key of keys.slice(0, keys.length - MAX_MESSAGES)) delete messages[key];
  }

  taskOfMessage(chat: number, messageId: number): string | undefined {
    return this.state.messages[`${chat}:${messageId}`];
  }

  /** Writes the whole state atomically; writes are serialised. */
  save(): Promise<void> {
    const next = this.writing.then(() => writeAtomic(this.path, JSON.stringify(this.state)));
    this.writing = next.catch(() => undefined);
    return next;
  }
}
