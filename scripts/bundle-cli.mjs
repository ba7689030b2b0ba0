#!/usr/bin/env node
// Bundles the compiled CLI (dist/src/cli/main.js) into one CommonJS file, dist/bundle/orchestra.cjs,
// which bin/orchestra.cjs runs with V8's code cache. Runs after tsc (`npm run build`): tsc stays
// the one compiler and type checker; esbuild only joins its output.
//
// What goes in: our code and the packages on the CLI's static import path (zod, commander, ulid),
// whose ~100 files were most of a command's start. What stays out: every other dependency; those
// are imported lazily by the commands that need them (SDKs, execa, grammy, ...) and resolve from
// node_modules as usual.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const BUNDLED = ['zod', 'commander', 'ulid'];
const outDir = join(root, 'dist', 'bundle');
const outfile = join(outDir, 'orchestra.cjs');

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const external = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((name) => !BUNDLED.includes(name));

// Old code caches belong to the old bundle; V8 would reject them anyway.
for (const name of safeList(outDir)) if (name.endsWith('.v8cache') || name.endsWith('.tmp')) rmSync(join(outDir, name), { force: true });

const result = await build({
  entryPoints: [join(root, 'dist', 'src', 'cli', 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external,
  // import.meta does not exist in CommonJS: the modules that use it get the bundle's own URL,
  // which the launcher passes in (package-root.ts walks up from there to the package). Not a
  // banner: anything before the "use strict" directive would turn strict mode off.
  define: { 'import.meta.url': '__orchestraBundleUrl' },
  logLevel: 'warning',
  plugins: [englishOnlyZodLocales()],
  write: false,
});
const code = routeDynamicImports(result.outputFiles[0].text);
if (!/^(#![^\n]*\n)?"use strict";/.test(code)) throw new Error('bundle-cli: the bundle does not start with "use strict": its code would run sloppy');
mkdirSync(outDir, { recursive: true });
writeFileSync(outfile, code, { mode: 0o755 });
const bytes = Buffer.byteLength(code);

// Make the first code cache now, so the first real command already starts from it.
const warm = spawnSync(process.execPath, [join(root, 'bin', 'orchestra.cjs'), '--version'], { encoding: 'utf8' });
if (warm.status !== 0) {
  process.stderr.write(`bundle-cli: the bundle does not start: ${warm.stderr || warm.stdout}\n`);
  process.exit(1);
}
process.stdout.write(`bundle-cli: ${outfile} (${(bytes / 1024).toFixed(0)} KiB), version ${warm.stdout.trim()}\n`);

/**
 * esbuild leaves `import("x")` for what it does not bundle (execa, node:fs/promises). Inside a
 * script compiled from V8's code cache, Node 20 has lost the callback `import()` needs and
 * throws, so the launcher passes a function of its own, `__orchestraImport`, and every such call
 * goes through it. Any other `import(` left would fail at run time: refuse to build instead.
 */
function routeDynamicImports(text) {
  const routed = text.replace(/\bimport\(\s*("[^"\\]+")\s*\)/g, '__orchestraImport($1)');
  const left = routed.match(/\bimport\(\s*(?!\))[^\n]{0,40}/);
  if (left) throw new Error(`bundle-cli: a dynamic import the launcher cannot route: ${left[0]}`);
  return routed;
}

/**
 * zod's `locales` namespace re-exports its ~50 translations of the error messages (~390 KiB, a
 * fifth of the bundle). Orchestra reports in English only and zod's default locale is imported
 * on its own, so the namespace becomes English alone.
 */
function englishOnlyZodLocales() {
  return {
    name: 'english-only-zod-locales',
    setup(b) {
      b.onLoad({ filter: /[\\/]node_modules[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
        contents: 'export { default as en } from "./en.js";\n',
        resolveDir: dirname(args.path),
        loader: 'js',
      }));
    },
  };
}

function safeList(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
