import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { OrchestraError } from '../core/errors.js';
import { parseYaml } from '../core/safe-yaml.js';
import { assertJsonDepth } from '../core/value-limits.js';

/** Scripts are small; a larger file is refused before it is parsed. */
const SCRIPT_MAX_BYTES = 4 * 1024 * 1024;
import { abortedError, assistantTurns, formatZodIssues } from './common.js';
import type { ModelProvider, ModelReply, ModelRequest, ProviderSettings } from './types.js';

export const ScriptedReplySchema = z
  .object({
    text: z.string().optional(),
    toolCalls: z
      .array(
        z.object({
          id: z.string().min(1).optional(),
          name: z.string().min(1),
          args: z.record(z.string(), z.unknown()).default({}),
        }),
      )
      .optional(),
    usage: z
      .object({ inputTokens: z.number().int().min(0).optional(), outputTokens: z.number().int().min(0).optional() })
      .optional(),
    stopReason: z.string().optional(),
    /** Makes this turn fail with PROVIDER_ERROR carrying this message. */
    error: z.string().optional(),
  })
  .strict();

export const ScriptSchema = z.object({ replies: z.array(ScriptedReplySchema).min(1, 'must contain at least one reply') });

export type ScriptedReply = z.infer<typeof ScriptedReplySchema>;
export type Script = z.infer<typeof ScriptSchema>;

/** Validates an inline script: `{ replies: [...] }` or just the array. */
export function parseScript(raw: unknown, source = 'inline script'): Script {
  const parsed = ScriptSchema.safeParse(Array.isArray(raw) ? { replies: raw } : raw);
  if (!parsed.success) {
    throw new OrchestraError('INVALID_INPUT', `Invalid ${source}: ${formatZodIssues(parsed.error)}`, { source });
  }
  return parsed.data;
}

/** Reads a JSON (`.json`) or YAML (anything else) script file. */
export function loadScriptFile(file: string): Script {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new OrchestraError('INVALID_INPUT', `Cannot read script file ${file} (${code}).`, { file });
  }
  if (Buffer.byteLength(text) > SCRIPT_MAX_BYTES) throw new OrchestraError('INVALID_INPUT', `Script file ${file} is over ${SCRIPT_MAX_BYTES} bytes.`, { file });
  let raw: unknown;
  const isJson = file.toLowerCase().endsWith('.json');
  try {
    if (isJson) assertJsonDepth(text);
    raw = isJson ? JSON.parse(text) : loadYaml(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new OrchestraError('INVALID_INPUT', `Script file ${file} is not valid ${isJson ? 'JSON' : 'YAML'}: ${msg}`, {
      file,
    });
  }
  return parseScript(raw, `script file ${file}`);
}

/**
 * Replays canned replies. Stateless: the reply used is the one at index = number of assistant
 * messages already in the request, so a crashed and replayed loop sees the same answers.
 * Past the end the last reply repeats (a model that never finishes).
 */
export class ScriptedProvider implements ModelProvider {
  readonly kind = 'scripted' as const;
  readonly script: Script;

  constructor(private readonly settings: ProviderSettings) {
    if (settings.script !== undefined) this.script = parseScript(settings.script);
    else if (settings.scriptFile) this.script = loadScriptFile(settings.scriptFile);
    else throw new OrchestraError('INVALID_INPUT', 'The scripted provider needs `scriptFile` or an inline `script`.');
  }

  async complete(req: ModelRequest): Promise<ModelReply> {
    if (req.signal?.aborted) throw abortedError('Scripted');
    const index = assistantTurns(req.messages);
    const replies = this.script.replies;
    const reply = replies[Math.min(index, replies.length - 1)]!;
    if (reply.error !== undefined) {
      throw new OrchestraError('PROVIDER_ERROR', `Scripted provider error: ${reply.error}`, {
        provider: 'scripted',
        index,
        retryable: false,
      });
    }
    const toolCalls = (reply.toolCalls ?? []).map((c, j) => ({ id: c.id ?? `script_${index}_${j}`, name: c.name, args: c.args }));
    const text = reply.text ?? '';
    return {
      text,
      toolCalls,
      usage: {
        inputTokens: reply.usage?.inputTokens ?? estimateTokens(JSON.stringify([req.system, req.messages, req.tools])),
        outputTokens: reply.usage?.outputTokens ?? estimateTokens(text + JSON.stringify(toolCalls)),
      },
      // Counts the script does not give are guesses: they feed token budgets, never a price.
      ...(reply.usage ? {} : { usageEstimated: true }),
      model: req.model || this.settings.model,
      stopReason: reply.stopReason ?? (toolCalls.length ? 'tool_use' : 'end_turn'),
    };
  }
}

/** Deterministic rough count (4 characters a token) used when a script gives no usage. */
function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The workspace's one safe YAML loader (core schema, no tags, no aliases, bounded size and depth). */
function loadYaml(text: string): unknown {
  return parseYaml(text, 'the script', SCRIPT_MAX_BYTES);
}
