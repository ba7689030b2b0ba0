import { OrchestraError } from '../core/errors.js';
import { API_KEY_SOURCES, formatZodIssues, openAiKey, requireApiKey } from './common.js';
import { FallbackProvider } from './fallback.js';
import { ScriptedProvider } from './scripted.js';
import { ProviderSettingsSchema, type ModelProvider, type ModelReply, type ModelRequest, type ProviderKind, type ProviderSettings } from './types.js';

/**
 * The provider a role's settings name. A hosted provider's module (and its SDK, about 20 MB of
 * memory each) is loaded at its first call, not when a loop starts; a missing API key is still
 * refused here, at once.
 */
export function createProvider(settings: ProviderSettings, env: NodeJS.ProcessEnv = process.env): ModelProvider {
  const parsed = ProviderSettingsSchema.safeParse(settings);
  if (!parsed.success) throw new OrchestraError('INVALID_INPUT', `Invalid provider settings: ${formatZodIssues(parsed.error)}`);
  const s = parsed.data;
  switch (s.kind) {
    case 'anthropic':
      requireApiKey(env, [...API_KEY_SOURCES.anthropic.variables], API_KEY_SOURCES.anthropic.message);
      return new LazyProvider(s.kind, async () => new (await import('./anthropic.js')).AnthropicProvider(s, env));
    case 'gemini':
      requireApiKey(env, [...API_KEY_SOURCES.gemini.variables], API_KEY_SOURCES.gemini.message);
      return new LazyProvider(s.kind, async () => new (await import('./gemini.js')).GeminiProvider(s, env));
    case 'openai':
      openAiKey(s, env);
      return new LazyProvider(s.kind, async () => new (await import('./openai.js')).OpenAiProvider(s, env));
    case 'scripted':
      return new ScriptedProvider(s); // no SDK: built now, so a bad script file is refused at once
  }
}

/**
 * A role's provider: the primary alone, or the primary and its fallbacks as one chain
 * (fallback.ts). Every link is built now, so a missing key of any link is refused at once.
 */
export function createChain(links: readonly ProviderSettings[], env: NodeJS.ProcessEnv = process.env): ModelProvider {
  const built = links.map((settings) => ({ provider: createProvider(settings, env), model: settings.model }));
  if (built.length === 1) return built[0]!.provider;
  return new FallbackProvider(built, env);
}

/** Loads the real provider on the first call; a failed load is tried again on the next. */
class LazyProvider implements ModelProvider {
  private loaded?: Promise<ModelProvider>;

  constructor(readonly kind: ProviderKind, private readonly load: () => Promise<ModelProvider>) {}

  complete(req: ModelRequest): Promise<ModelReply> {
    const loading = (this.loaded ??= this.load());
    loading.catch(() => { if (this.loaded === loading) this.loaded = undefined; });
    return loading.then((provider) => provider.complete(req));
  }
}
