/**
 * The directory Orchestra is installed in: the nearest ancestor of this module's file that holds
 * Orchestra's own package.json. Found by walking up rather than by a fixed `../..` because the same
 * code runs from two layouts: the compiled tree (dist/src/core/) and the CLI bundle (dist/bundle/).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface PackageFacts { root: string; version: string }

let found: PackageFacts | undefined;

/** The package's root and version; the root of the filesystem and 'unknown' if none is found. */
export function packageFacts(): PackageFacts {
  found ??= search(dirname(fileURLToPath(import.meta.url)));
  return found;
}

function search(start: string): PackageFacts {
  for (let dir = start; ; dir = dirname(dir)) {
    const pkg = readPackage(join(dir, 'package.json'));
    if (pkg?.name === 'orchestra') return { root: dir, version: typeof pkg.version === 'string' ? pkg.version : 'unknown' };
    if (dirname(dir) === dir) return { root: start, version: 'unknown' };
  }
}

function readPackage(file: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
  } catch {
    return undefined;
  }
}
