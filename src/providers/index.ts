export { createProvider } from './factory.js';
export * from './types.js';
export { AnthropicProvider } from './anthropic.js';
export { GeminiProvider } from './gemini.js';
export * from './scripted.js';
export * from './pricing.js';
export { promptHash } from './prompt-hash.js';
export { formatZodIssues } from './common.js';
