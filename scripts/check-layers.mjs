#!/usr/bin/env node
// Checks the dependency arrows of src/ (see implementation_guidance.md, "Layout"): every import,
// static or dynamic, must point to an allowed layer, and no two modules may import each other
// through a chain (no cycle). Prints the violations; exits 1 when there are any.
// Usage: node scripts/check-layers.mjs [srcDir]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Layer -> the layers it may import (itself always allowed). */
export const ALLOWED = {
  core: [],
  exec: ['core'],
  vcs: ['core'],
  providers: ['core'],
  forge: ['core'],
  sync: ['core'],
  loops: ['core', 'exec'],
  pipeline: ['core', 'loops', 'exec', 'vcs', 'providers', 'forge'],
  adapters: ['core', 'loops', 'pipeline', 'forge'],
  app: ['core', 'loops', 'pipeline', 'exec', 'vcs', 'providers', 'adapters', 'forge', 'sync'],
  cli: ['core', 'loops', 'pipeline', 'exec', 'vcs', 'providers', 'adapters', 'app', 'forge', 'sync'],
};

const IMPORT = /(?:^|\n)\s*(?:import|export)\s(?:type\s)?[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports of a file, resolved to src-relative .ts paths; `typeOnly` imports vanish at run time. */
function importsOf(src, file) {
  const text = readFileSync(file, 'utf8');
  const found = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith('.')) continue;
    const typeOnly = /^\s*(?:import|export)\s+type\s/.test(m[0].replace(/^\n/, ''));
    found.push({ target: relative(src, resolve(dirname(file), spec)).replace(/\.js$/, '.ts'), typeOnly });
  }
  return found;
}

export function checkLayers(src) {
  const files = walk(src).map((f) => relative(src, f));
  const layerOf = (f) => f.split('/')[0];
  const problems = [];
  const graph = new Map();
  for (const file of files) {
    const deps = importsOf(src, join(src, file));
    graph.set(file, deps.map((d) => d.target));
    // Type-only imports count too: a type is part of the contract between layers.
    for (const { target } of deps) {
      const from = layerOf(file);
      const to = layerOf(target);
      if (from === to) continue;
      if (!(from in ALLOWED)) problems.push(`${file}: not in a known layer (${Object.keys(ALLOWED).join(', ')})`);
      else if (!ALLOWED[from].includes(to)) problems.push(`${file} imports ${target}: ${from} may not depend on ${to}`);
    }
  }
  // Cycles, type-only imports included: a module pair that needs each other should be one module.
  const state = new Map();
  const stack = [];
  const visit = (file) => {
    state.set(file, 'open');
    stack.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === 'open') problems.push(`import cycle: ${[...stack.slice(stack.indexOf(dep)), dep].join(' -> ')}`);
      else if (!state.has(dep) && graph.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const src = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..', 'src'));
  const problems = checkLayers(src);
  for (const p of problems) console.log(p);
  console.log(problems.length === 0 ? 'layers: ok' : `layers: ${problems.length} problem(s)`);
  process.exit(problems.length === 0 ? 0 : 1);
}
