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
 * Invariants: the cache is only an accelerator, and a bad one must never run or crash anything.
 * V8 itself checks little (the source's length, its version and flags; in release builds not the
 * data's checksum, and a damaged body can crash the process), so the file carries a header of its
 * own: the identity of the bundle it was made from (size, mtime, inode) and a SHA-256 of the V8
 * data. A cache that fails either check is not given to V8; a new one is written at exit, fsynced
 * under a unique temp name, then renamed, so concurrent commands never read a torn one. A
 * read-only install simply runs without one.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');
const { pathToFileURL } = require('node:url');

// Through the real path: a symlinked bin (npm link, --preserve-symlinks-main) finds its package.
const packageDir = path.dirname(path.dirname(fs.realpathSync(__filename)));
const bundle = path.join(packageDir, 'dist', 'bundle', 'orchestra.cjs');
const MAGIC = 'orchestra-v8-cache 1';

/** V8 rejects a cache made under other flags: one file per set of flags, so they do not take turns. */
function cacheFileFor(flags) {
  const tag = flags ? `-${crypto.createHash('sha256').update(flags).digest('hex').slice(0, 8)}` : '';
  return `${bundle}.${process.version}-${process.arch}${tag}.v8cache`;
}

function readBundle() {
  let fd;
  try {
    fd = fs.openSync(bundle, 'r');
  } catch {
    process.stderr.write(`orchestra: the CLI bundle ${bundle} is missing; run \`npm run build\` first\n`);
    process.exit(1);
  }
  try {
    const st = fs.fstatSync(fd);
    // The shebang is not JavaScript inside a function wrapper; '//' keeps line numbers.
    const source = fs.readFileSync(fd, 'utf8').replace(/^#!/, '//');
    return { source, identity: `${st.size}:${st.mtimeMs}:${st.ino}` };
  } finally {
    fs.closeSync(fd);
  }
}

/** The V8 data of the cache file if its header names this bundle and its checksum holds. */
function readCache(cacheFile, identity) {
  let bytes;
  try {
    bytes = fs.readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  const lines = [];
  let start = 0;
  for (let i = 0; i < 3; i++) {
    const end = bytes.indexOf(0x0a, start);
    if (end < 0 || end - start > 200) return undefined;
    lines.push(bytes.toString('latin1', start, end));
    start = end + 1;
  }
  const [magic, madeFrom, digest] = lines;
  if (magic !== MAGIC || madeFrom !== identity) return undefined;
  const data = bytes.subarray(start);
  return crypto.createHash('sha256').update(data).digest('hex') === digest ? data : undefined;
}

function writeCache(cacheFile, identity, data) {
  const temp = `${cacheFile}.${process.pid}-${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = fs.openSync(temp, 'wx', 0o644);
    try {
      const digest = crypto.createHash('sha256').update(data).digest('hex');
      fs.writeSync(fd, `${MAGIC}\n${identity}\n${digest}\n`);
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, cacheFile);
  } catch {
    fs.rmSync(temp, { force: true });
  }
}

function writable(dir) {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

const { source, identity } = readBundle();
const flags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ').trim();
const cacheFile = cacheFileFor(flags);
const cachedData = readCache(cacheFile, identity);
// CommonJS's own wrapper plus two names the bundle expects from here: its own URL (import.meta.url
// in the source) and `__orchestraImport`, through which its `import()` calls go (see
// scripts/bundle-cli.mjs): Node 20 cannot run `import()` in code from a code cache.
const wrapped = `(function (exports, require, module, __filename, __dirname, __orchestraBundleUrl, __orchestraImport) {${source}\n})`;
const script = new vm.Script(wrapped, { filename: bundle, cachedData });
// Written at exit, so the cache also holds the functions this run compiled lazily.
if ((cachedData === undefined || script.cachedDataRejected) && writable(path.dirname(bundle))) {
  process.once('exit', () => writeCache(cacheFile, identity, script.createCachedData()));
}

const bundleModule = new Module(bundle, module);
bundleModule.filename = bundle;
bundleModule.paths = Module._nodeModulePaths(path.dirname(bundle));
const importFromHere = (specifier) => import(specifier); // resolves from bin/, i.e. the package's node_modules
script.runInThisContext()(bundleModule.exports, Module.createRequire(bundle), bundleModule, bundle, path.dirname(bundle), pathToFileURL(bundle).href, importFromHere);
