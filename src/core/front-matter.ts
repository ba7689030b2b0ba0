import { OrchestraError } from './errors.js';
import { parseYaml, YAML_MAX_BYTES } from './safe-yaml.js';

/**
 * Splits Markdown with front matter and parses the front matter as plain YAML (safe-yaml.ts).
 * Used everywhere front matter is read (inbox files, agents). Deliberately not gray-matter:
 * its `---js` / `---javascript` engines eval the front matter, and its cache is keyed by the
 * input text. Here the opening line must be `---`, `---yaml` or `---yml`; any other language is
 * refused. The front matter ends at the next line that is `---` or `...`.
 * Preconditions: `text` is decoded text (a leading BOM is ignored).
 */
export interface FrontMatter {
  /** False when the text does not start with `---` (then `data` is {} and `content` is the text). */
  present: boolean;
  data: Record<string, unknown>;
  content: string;
}

export function parseFrontMatter(text: string, what = 'the front matter', maxBytes = YAML_MAX_BYTES): FrontMatter {
  const source = text.replace(/^\uFEFF/, '').replace(/^(?:[ \t]*\r?\n)+/, '');
  if (!source.startsWith('---')) return { present: false, data: {}, content: text };
  const firstEnd = source.indexOf('\n');
  const opening = (firstEnd === -1 ? source : source.slice(0, firstEnd)).replace(/\r$/, '');
  const language = opening.slice(3).trim().toLowerCase();
  if (language !== '' && language !== 'yaml' && language !== 'yml') {
    throw new OrchestraError('INVALID_INPUT', `${what} is declared as "${language.slice(0, 20)}"; only YAML front matter is accepted (start with a plain --- line)`);
  }
  if (firstEnd === -1) throw new OrchestraError('INVALID_INPUT', `${what} is not closed (no --- line after it)`);
  const rest = source.slice(firstEnd + 1);
  const close = /^(?:---|\.\.\.)[ \t]*\r?$/m.exec(rest);
  if (!close) throw new OrchestraError('INVALID_INPUT', `${what} is not closed (no --- line after it)`);
  const yamlText = rest.slice(0, close.index);
  const afterClose = rest.indexOf('\n', close.index);
  const content = afterClose === -1 ? '' : rest.slice(afterClose + 1);
  const data = yamlText.trim() === '' ? {} : parseYaml(yamlText, what, maxBytes);
  if (data === null || data === undefined) return { present: true, data: {}, content };
  if (typeof data !== 'object' || Array.isArray(data)) throw new OrchestraError('INVALID_INPUT', `${what} must be a YAML mapping (key: value lines)`);
  return { present: true, data: data as Record<string, unknown>, content };
}
