import { z } from 'zod';
import { PriceSchema } from '../core/model-config.js';
import type { ProviderKind, Usage } from './types.js';

/** USD per million input, output and cache tokens (the config's price schema: one source). */
export type ModelPrice = z.infer<typeof PriceSchema>;
export type PriceTable = Record<string, ModelPrice>;

export const PriceTableSchema = z.record(z.string().min(1), PriceSchema);

/**
 * List prices (USD / MTok, standard tier, no caching or batch discounts; Gemini Pro at the
 * ≤200k-token prompt tier). Keys are prefixes of model names; the longest matching key wins,
 * so a family key ('claude-sonnet') prices later dated/versioned models until a specific
 * entry is added. Override per project with a config table.
 */
export const DEFAULT_PRICE_TABLE: PriceTable = {
  'claude-opus': { inputPerMTok: 5, outputPerMTok: 25 },
  'claude-opus-4-0': { inputPerMTok: 15, outputPerMTok: 75 },
  'claude-opus-4-1': { inputPerMTok: 15, outputPerMTok: 75 },
  'claude-opus-4-2025': { inputPerMTok: 15, outputPerMTok: 75 },
  'claude-3-opus': { inputPerMTok: 15, outputPerMTok: 75 },
  'claude-sonnet': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-3-7-sonnet': { inputPerMTok: 3, outputPerMTok: 15 },
  'claude-haiku': { inputPerMTok: 1, outputPerMTok: 5 },
  'claude-3-5-haiku': { inputPerMTok: 0.8, outputPerMTok: 4 },
  'gemini-3-pro': { inputPerMTok: 2, outputPerMTok: 12 },
  'gemini-3.1-pro': { inputPerMTok: 2, outputPerMTok: 12 },
  'gemini-3-flash': { inputPerMTok: 0.5, outputPerMTok: 3 },
  'gemini-2.5-pro': { inputPerMTok: 1.25, outputPerMTok: 10 },
  'gemini-2.5-flash': { inputPerMTok: 0.3, outputPerMTok: 2.5 },
  'gemini-2.5-flash-lite': { inputPerMTok: 0.1, outputPerMTok: 0.4 },
  'gemini-2.0-flash': { inputPerMTok: 0.1, outputPerMTok: 0.4 },
};

export interface Cost {
  usd: number;
  /** false when no table entry matched the model (usd is then 0). */
  priced: boolean;
  /** The table key that priced this model. */
  matchedKey?: string;
}

/** Longest table key that prefixes the model name (case-insensitive, `models/` dropped). */
export function findPrice(model: string, priceTable: PriceTable = DEFAULT_PRICE_TABLE): [string, ModelPrice] | undefined {
  const name = model.trim().toLowerCase().replace(/^models\//, '');
  let best: [string, ModelPrice] | undefined;
  for (const [key, price] of Object.entries(priceTable)) {
    if (name.startsWith(key.toLowerCase()) && (!best || key.length > best[0].length)) best = [key, price];
  }
  return best;
}

/**
 * What cached input costs, as a multiple of the input price, when the table entry does not say:
 * Anthropic reads at 0.1x and writes at 1.25x; OpenAI's automatic cache reads at 0.5x; Gemini's
 * implicit cache at 0.25x. Writes cost the input price where the provider does not charge extra.
 */
const CACHE_MULTIPLES: Record<ProviderKind, { read: number; write: number }> = {
  anthropic: { read: 0.1, write: 1.25 },
  openai: { read: 0.5, write: 1 },
  gemini: { read: 0.25, write: 1 },
  scripted: { read: 1, write: 1 },
};

/**
 * The price of one reply. `inputTokens` counts every prompt token; of those, `cachedInputTokens`
 * are priced at the cached rate and `cacheWriteTokens` at the write rate, the rest at the input
 * rate. The provider kind picks the default cache multiples (anthropic when not given).
 */
export function costUsd(usage: Usage, model: string, priceTable: PriceTable = DEFAULT_PRICE_TABLE, kind: ProviderKind = 'anthropic'): Cost {
  const hit = findPrice(model, priceTable);
  if (!hit) return { usd: 0, priced: false };
  const [key, p] = hit;
  const multiples = CACHE_MULTIPLES[kind];
  const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens);
  const written = Math.min(usage.cacheWriteTokens ?? 0, usage.inputTokens - cached);
  const plain = usage.inputTokens - cached - written;
  const usd =
    (plain * p.inputPerMTok +
      cached * (p.cachedInputPerMTok ?? p.inputPerMTok * multiples.read) +
      written * (p.cacheWritePerMTok ?? p.inputPerMTok * multiples.write) +
      usage.outputTokens * p.outputPerMTok) /
    1_000_000;
  return { usd: Math.round(usd * 1e8) / 1e8, priced: true, matchedKey: key };
}
