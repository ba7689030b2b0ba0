/**
 * File names built from names someone else chose (inbox files): printable, within the 255-byte
 * limit of a path component, extension kept. Preconditions: `name` is one path component (no `/`).
 */
export const NAME_MAX_BYTES = 255;

/** Control characters (and `/`, `\`) replaced by `_`, so a name is one printable line. */
export function printableName(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069/\\]/g, '_');
}

/** Cuts a string to at most `maxBytes` of UTF-8 without splitting a character. */
export function cutBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = '';
  let size = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch);
    if (size + n > maxBytes) break;
    out += ch;
    size += n;
  }
  return out;
}

/**
 * A printable name of at most `maxBytes` bytes. A longer name keeps its start and its extension
 * (up to 16 characters, e.g. `.md`, `.json`) with `_` between them.
 */
export function fitName(name: string, maxBytes: number): string {
  const printable = printableName(name);
  if (Buffer.byteLength(printable) <= maxBytes) return printable;
  const dot = printable.lastIndexOf('.');
  const ext = dot > 0 && printable.length - dot <= 16 ? printable.slice(dot) : '';
  return `${cutBytes(printable.slice(0, printable.length - ext.length), maxBytes - Buffer.byteLength(ext) - 1)}_${ext}`;
}
