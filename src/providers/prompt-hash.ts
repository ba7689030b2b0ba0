import { createHash } from 'node:crypto';

/**
 * Short stable fingerprint of prompt texts (sha256, first 16 hex chars). Texts are
 * length-prefixed so ['ab', 'c'] and ['a', 'bc'] hash differently.
 */
export function promptHash(texts: string[], length = 16): string {
  const h = createHash('sha256');
  for (const t of texts) h.update(`${Buffer.byteLength(t, 'utf8')}:`).update(t, 'utf8');
  return h.digest('hex').slice(0, length);
}
