#!/usr/bin/env node
'use strict';
/**
 * The `orchestra` command: runs the CLI from its one-file bundle (dist/bundle/orchestra.cjs, made
 * by `npm run build`) through V8's code cache.
 *
 * Why: a CLI write is a short process, and loading ~170 modules (95 of them zod's) then compiling
 * them cost more than the write itself. One file removes the module resolution; the code cache
 * (Node 20 has no NODE_COMPILE_CACHE) removes the compile. See README, "Where the time goes".
 *
 * Invariants: the cache is only an accelerator. V8 checks it against the source and its own
 * version and flags; a missing, stale or rejected cache means a normal compile and a new cache,
 * written atomically (temp + rename) so concurrent commands never read a torn one. A read-only
 * install simply runs without one.
 */
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

const bundle = path.join(__dirname, '..', 'dist', 'bundle', 'orchestra.cjs');
const cacheFile = `${bundle}.${process.version}-${process.arch}.v8cache`;

function readSource() {
  try {
    // The shebang is not JavaScript inside a function wrapper; '//' keeps line numbers.
    return fs.readFileSync(bundle, 'utf8').replace(/^#!/, '//');
  } catch {
    process.stderr.write(`orchestra: the CLI bundle ${bundle} is missing; run \`npm run build\` first\n`);
    process.exit(1);
  }
}

function readCache() {
  try {
    return fs.readFileSync(cacheFile);
  } catch {
    return undefined;
  }
}

function writeCache(script) {
  const temp = `${cacheFile}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(temp, script.createCachedData());
    fs.renameSync(temp, cacheFile);
  } catch {
    fs.rmSync(temp, { force: true });
  }
}

const cachedData = readCache();
// CommonJS's own wrapper, plus `__orchestraImport`: the bundle's `import()` calls go through it
// (see scripts/bundle-cli.mjs), because Node 20 cannot run `import()` in code from a code cache.
const wrapped = `(function (exports, require, module, __filename, __dirname, __orchestraImport) {${readSource()}\n})`;
const script = new vm.Script(wrapped, { filename: bundle, cachedData });
// Written at exit, so the cache also holds the functions this run compiled lazily.
if (cachedData === undefined || script.cachedDataRejected) process.once('exit', () => writeCache(script));

const bundleModule = new Module(bundle, module);
bundleModule.filename = bundle;
bundleModule.paths = Module._nodeModulePaths(path.dirname(bundle));
const importFromHere = (specifier) => import(specifier); // resolves from bin/, i.e. the package's node_modules
script.runInThisContext()(bundleModule.exports, Module.createRequire(bundle), bundleModule, bundle, path.dirname(bundle), importFromHere);
