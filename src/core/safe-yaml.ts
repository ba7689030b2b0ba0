import { isAlias, isNode, parseDocument, visit } from 'yaml';
import { OrchestraError } from './errors.js';
import { assertYamlDepth, MAX_NESTING, measure } from './value-limits.js';

/**
 * The one YAML loader: plain data only.
 * - the `yaml` package with the YAML 1.2 core schema (strings, numbers, booleans, null, maps,
 *   sequences); no `!!js/*`, no custom or other explicit tags (`!foo`, `!!binary`, even `!!str`);
 * - no aliases at all (so no billion-laughs expansion), no merge keys, duplicate keys refused,
 *   a single document only;
 * - text over `maxBytes` or nested over MAX_NESTING is refused before parsing.
 * Every failure is INVALID_INPUT with a one-line message.
 */
export const YAML_MAX_BYTES = 64 * 1024;

export function parseYaml(text: string, what = 'the YAML', maxBytes = YAML_MAX_BYTES): unknown {
  const size = Buffer.byteLength(text);
  if (size > maxBytes) throw new OrchestraError('INVALID_INPUT', `${what} is ${size} bytes; the limit is ${maxBytes}`);
  assertYamlDepth(text);
  const fail = (why: string): never => {
    throw new OrchestraError('INVALID_INPUT', `${what} does not parse: ${why.split('\n')[0]}`);
  };
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { schema: 'core', customTags: [], merge: false, uniqueKeys: true, strict: true, prettyErrors: false, version: '1.2' });
  } catch (err) {
    return fail((err as Error).message);
  }
  if (doc.errors.length) fail(doc.errors[0]!.message);
  if (doc.warnings.length) fail(doc.warnings[0]!.message);
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) fail('aliases (*name) are not allowed');
      if (isNode(node) && (node as { tag?: string }).tag) fail(`tags (${(node as { tag?: string }).tag}) are not allowed; plain YAML only`);
    },
  });
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 0 });
  } catch (err) {
    return fail((err as Error).message);
  }
  if (measure(value).depth > MAX_NESTING) fail(`nested more than ${MAX_NESTING} levels deep`);
  return value;
}
