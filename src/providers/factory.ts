import { OrchestraError } from '../core/errors.js';
import { AnthropicProvider } from './anthropic.js';
import { formatZodIssues } from './common.js';
import { GeminiProvider } from './gemini.js';
import { ScriptedProvider } from './scripted.js';
import { ProviderSettingsSchema, type ModelProvider, type ProviderSettings } from './types.js';

export function createProvider(settings: ProviderSettings, env: NodeJS.ProcessEnv = process.env): ModelProvider {
  const parsed = ProviderSettingsSchema.safeParse(settings);
  if (!parsed.success) throw new OrchestraError('INVALID_INPUT', `Invalid provider settings: ${formatZodIssues(parsed.error)}`);
  const s = parsed.data;
  switch (s.kind) {
    case 'anthropic':
      return new AnthropicProvider(s, env);
    case 'gemini':
      return new GeminiProvider(s, env);
    case 'scripted':
      return new ScriptedProvider(s);
  }
}
