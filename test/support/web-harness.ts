/** Shared setup for the web UI tests: a temp workspace, the web server, record simulation, HTTP helpers. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWeb, type WebServer } from '../../src/adapters/web/index.js';
import { initWorkspace } from '../../src/app/setup.js';
import type { Actor } from '../../src/core/actor.js';
import { createTask } from '../../src/core/ops/tasks.js';
import type { StoredEvent } from '../../src/core/record.js';
import { gcFinished } from './core-workspace.js';
import { Workspace } from '../../src/core/workspace.js';
import { scaled } from './timeouts.js';

process.env.ORCHESTRA_LOG = 'silent';

export const TOKEN = 'test-token-0123456789abcdef';
export const planner: Actor = { kind: 'loop', name: 'planner' };

export interface WebFixture {
  ws: Workspace;
  web: WebServer;
  root: string;
  close(): Promise<void>;
}

/** A fresh workspace (fast scans) with the web server on a free port. */
export async function startFixture(opts: { token?: string | null } = {}): Promise<WebFixture> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'orchestra-web-')));
  await initWorkspace(root);
  const configPath = join(root, 'orchestra.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  config.loops.scanIntervalMs = 200;
  config.loops.settleMs = 20;
  config.fsync = false;
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  // A real repository under a configured name: the form checks the repo at submission.
  const repo = join(root, '.orchestra', 'repo-shop');
  mkdirSync(repo, { recursive: true });
  execFileSync('git', ['init', '-q', repo]);
  config.repos = { shop: repo };
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const ws = await Workspace.open(root);
  const web = await startWeb(ws, { port: 0, ...(opts.token === null ? {} : { token: opts.token ?? TOKEN }) });
  return {
    ws, web, root,
    close: async () => {
      await web.stop();
      await gcFinished(root); // a detached `git gc --auto` still writing under .git/objects
      rmSync(root, { recursive: true, force: true, maxRetries: 20, retryDelay: 200 });
    },
  };
}

export async function newDevTask(ws: Workspace, title: string, description = ''): Promise<string> {
  const view = await createTask(ws, { title, description, workstream: 'dev', fields: { repo: '/tmp/repo' } }, { actor: { kind: 'cli', name: 'test' } });
  return view.id;
}

export async function append(ws: Workspace, id: string, events: StoredEvent[], actor: Actor = planner): Promise<void> {
  await ws.appendToTask(id, () => ({ actor, events }));
}

/** What the planner would record: plan file, plan.proposed, planning -> planned. */
export async function proposePlan(ws: Workspace, id: string, version: number, markdown: string): Promise<void> {
  const file = await ws.writeTaskFile(id, `plan-v${version}.md`, markdown);
  await append(ws, id, [
    { type: 'plan.proposed', data: { version, file, summary: `plan ${version}`, steps: ['edit'], criteria: ['tests pass'], risks: [] } },
    { type: 'task.moved', data: { from: 'planning', to: 'planned' } },
  ]);
}

const moved = (from: string, to: string): StoredEvent => ({ type: 'task.moved', data: { from, to } });

/** A dev task taken through round 1 as the loops would record it: plan v1 approved, executed, pushed, completed. */
export async function completedDevTask(ws: Workspace, title: string): Promise<string> {
  const id = await newDevTask(ws, title);
  await proposePlan(ws, id, 1, '# Plan v1\n');
  await append(ws, id, [{ type: 'plan.approved', data: { version: 1 } }, moved('planned', 'approved')]);
  await append(ws, id, [{ type: 'exec.started', data: { worktree: '/tmp/wt', branch: `task/${id}`, base: 'main', baseCommit: 'a'.repeat(40), planVersion: 1 } }, moved('approved', 'executing')]);
  await append(ws, id, [{ type: 'exec.finished', data: { summary: 'fixed' } }, moved('executing', 'publishing')]);
  await append(ws, id, [{ type: 'git.pushed', data: { remote: '/r.git', branch: `task/${id}`, sha: 'b'.repeat(40), link: '/r.git#x' } }, moved('publishing', 'completed')]);
  return id;
}

export interface Reply { status: number; headers: IncomingHttpHeaders; body: string }

/** One HTTP request with full control of headers (fetch forbids Host, Origin, Cookie). */
export function http(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Opens the UI with the token like a browser would; returns the session cookie and the CSRF token. */
export async function login(web: WebServer): Promise<{ cookie: string; csrf: string }> {
  const first = await http(web.openUrl);
  const cookie = String(first.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
  const page = await http(web.url, { headers: { cookie } });
  const csrf = /<meta name="csrf-token" content="([^"]+)">/.exec(page.body)?.[1] ?? '';
  return { cookie, csrf };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + scaled(ms);
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
