/**
 * Guesses a repository's test command from the files at its root. First match wins:
 * npm (a real `test` script) → pytest → go → cargo → make (a `test` target).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

function hasRealNpmTest(pkgJson: string): boolean {
  try {
    const test: unknown = (JSON.parse(pkgJson) as { scripts?: Record<string, unknown> })?.scripts?.test;
    return typeof test === 'string' && test.trim() !== '' && !/no test specified/i.test(test);
  } catch {
    return false;
  }
}

const isPyTestFile = (name: string) => /^test_.*\.py$/.test(name) || /^[^.].*_test\.py$/.test(name);

async function usesPytest(dir: string, rootNames: string[]): Promise<boolean> {
  if (rootNames.includes('pytest.ini') || rootNames.includes('conftest.py')) return true;
  const pyproject = await readText(path.join(dir, 'pyproject.toml'));
  if (pyproject && /^\s*\[tool\.pytest(\.ini_options)?\]/m.test(pyproject)) return true;
  const setupCfg = await readText(path.join(dir, 'setup.cfg'));
  if (setupCfg && /^\s*\[tool:pytest\]/m.test(setupCfg)) return true;
  const tox = await readText(path.join(dir, 'tox.ini'));
  if (tox && /^\s*\[pytest\]/m.test(tox)) return true;
  for (const sub of ['tests', 'test']) {
    if (rootNames.includes(sub) && (await list(path.join(dir, sub))).some(isPyTestFile)) return true;
  }
  return false;
}

/** A rule `test:` (possibly among other targets on the line), not a `test := value` assignment. */
function hasMakeTestTarget(makefile: string): boolean {
  return /^(?:[^\s:#=]+[ \t]+)*test(?:[ \t]+[^\s:#=]+)*[ \t]*::?(?!=)/m.test(makefile);
}

export async function detectTestCommand(dir: string): Promise<string | undefined> {
  const names = await list(dir);
  if (names.includes('package.json')) {
    const pkg = await readText(path.join(dir, 'package.json'));
    if (pkg && hasRealNpmTest(pkg)) return 'npm test';
  }
  if (await usesPytest(dir, names)) return 'python3 -m pytest -q';
  if (names.includes('go.mod')) return 'go test ./...';
  if (names.includes('Cargo.toml')) return 'cargo test';
  for (const name of ['GNUmakefile', 'makefile', 'Makefile']) {
    if (!names.includes(name)) continue;
    const text = await readText(path.join(dir, name));
    if (text && hasMakeTestTarget(text)) return 'make test';
  }
  return undefined;
}
