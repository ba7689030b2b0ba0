import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { RefusalLimiter } from '../src/adapters/inbox-port.js';
import { createWebLoop, startWeb, WebLoop } from '../src/adapters/web/index.js';
import { createLogger } from '../src/core/log.js';
import { append, http, login, newDevTask, proposePlan, startFixture, TOKEN, waitFor } from './support/web-harness.js';

const refusals = async (ws: import('../src/core/workspace.js').Workspace) =>
  (await ws.readStream('audit')).records.flatMap((r) => r.events).filter((e) => e.type === 'access.refused');

test('no token: 401 plain page, refusal recorded at most once a minute per address', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  const r = await http(f.web.url);
  assert.equal(r.status, 401);
  assert.match(r.body, /needs the token/);
  assert.doesNotMatch(r.body, /<script/);
  const bads: Array<Record<string, string>> = [{ authorization: 'Bearer nope' }, { cookie: `orchestra_web_${f.web.port}=forgedvalue1234567890.abcdefabcdefabcdefabcdefab` }];
  for (const bad of bads) {
    assert.equal((await http(`${f.web.url}tasks`, { headers: bad })).status, 401);
  }
  assert.equal((await http(`${f.web.url}?token=wrong`)).status, 401);
  const recorded = await refusals(f.ws);
  assert.equal(recorded.length, 1, 'one record for four refusals from one address');
  assert.equal(recorded[0]!.data.remote, '127.0.0.1');

  let now = 0;
  const limiter = new RefusalLimiter(60_000, 3, () => now);
  assert.deepEqual([limiter.allow('a'), limiter.allow('a'), limiter.allow('b'), limiter.allow('c'), limiter.allow('d')], [true, false, true, true, false]);
  now = 60_000;
  assert.equal(limiter.allow('a'), true, 'a minute later the address is recorded again');
});

test('?token= sets an HttpOnly SameSite=Strict cookie and drops the token from the URL; bearer works', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  const r = await http(`${f.web.url}tasks/x?token=${TOKEN}&a=1`);
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, '/tasks/x?a=1');
  assert.equal((await http(`${f.web.url}/evil.example/?token=${TOKEN}`)).headers.location, '/', 'no open redirect');
  const cookie = r.headers['set-cookie']![0]!;
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.ok(!cookie.includes(TOKEN), 'the cookie is not the token');
  const page = await http(f.web.url, { headers: { cookie: cookie.split(';')[0]! } });
  assert.equal(page.status, 200);
  assert.match(page.body, /New task/);
  for (const h of ['x-content-type-options', 'content-security-policy', 'referrer-policy']) assert.ok(page.headers[h], h);
  assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/);
  assert.doesNotMatch(String(page.headers['content-security-policy']), /unsafe-inline/);
  assert.doesNotMatch(page.body, /<script>/, 'no inline script');
  const js = await http(`${f.web.url}static/app.js`);
  assert.equal(js.status, 200);
  assert.match(String(js.headers['content-type']), /javascript/);
  const api = await http(`${f.web.url}api/tasks`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(api.status, 200);
  assert.deepEqual(JSON.parse(api.body), []);
  // a cross-site navigation with the token continues same-site instead of redirecting
  const cross = await http(`${f.web.url}?token=${TOKEN}`, { headers: { 'sec-fetch-site': 'cross-site' } });
  assert.equal(cross.status, 200);
  assert.match(cross.body, /http-equiv="refresh"/);
});

test('a token is generated at first start, stored 0600, and reused', async (t) => {
  const saved = process.env.ORCHESTRA_WEB_TOKEN;
  delete process.env.ORCHESTRA_WEB_TOKEN;
  t.after(() => {
    if (saved === undefined) delete process.env.ORCHESTRA_WEB_TOKEN;
    else process.env.ORCHESTRA_WEB_TOKEN = saved;
  });
  const f = await startFixture({ token: null });
  t.after(() => f.close());
  const file = join(f.root, '.orchestra', 'web-token');
  assert.match(f.web.token, /^[0-9a-f]{64}$/);
  assert.equal(f.web.tokenSource, 'generated');
  assert.equal(readFileSync(file, 'utf8').trim(), f.web.token);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const again = await startWeb(f.ws, { port: 0 });
  t.after(() => again.stop());
  assert.equal(again.token, f.web.token);
  assert.equal(again.tokenSource, 'file');
  process.env.ORCHESTRA_WEB_TOKEN = 'from-the-environment';
  const fromEnv = await startWeb(f.ws, { port: 0 });
  t.after(() => fromEnv.stop());
  assert.equal(fromEnv.token, 'from-the-environment');
});

test('state-changing requests: CSRF token, Origin and Host are checked', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  const { cookie, csrf } = await login(f.web);
  assert.ok(csrf.length > 20);
  const self = f.web.url.replace(/\/$/, '');
  const form = (extra: Record<string, string> = {}) => new URLSearchParams({ repo: 'shop', title: 'Fix it', ...extra }).toString();
  const post = (headers: Record<string, string>, body = form()) =>
    http(`${f.web.url}tasks`, { method: 'POST', body, headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers } });

  assert.equal((await post({ origin: self })).status, 403, 'no CSRF token');
  assert.equal((await post({ origin: self, 'x-csrf-token': 'wrong' })).status, 403, 'wrong CSRF token');
  assert.equal((await post({ origin: 'http://evil.example', 'x-csrf-token': csrf })).status, 403, 'foreign Origin');
  assert.equal((await post({ origin: 'null', 'x-csrf-token': csrf })).status, 403, 'opaque Origin');
  assert.equal((await post({ 'sec-fetch-site': 'cross-site', 'x-csrf-token': csrf })).status, 403, 'cross-site fetch metadata');
  assert.equal((await post({ host: 'evil.example', 'x-csrf-token': csrf })).status, 403, 'foreign Host (DNS rebinding)');
  assert.equal((await http(`${f.web.url}tasks`, { method: 'PUT', headers: { cookie } })).status, 405);
  assert.equal(readdirSync(f.ws.paths.inbox).filter((n) => n.endsWith('.json')).length, 0, 'nothing was written');

  const ok = await post({ origin: self, 'x-csrf-token': csrf });
  assert.equal(ok.status, 202, ok.body);
  const { taskId } = JSON.parse(ok.body) as { taskId: string };
  const inbox = JSON.parse(readFileSync(join(f.ws.paths.inbox, `web-${taskId}.json`), 'utf8'));
  assert.equal(inbox.title, 'Fix it');
  assert.equal(inbox.workstream, 'dev');
  assert.deepEqual(inbox.fields, { repo: 'shop' });
  assert.equal(inbox.actor.kind, 'adapter');

  // the form field works as well as the header (a page without JS), and answers with a redirect
  const plain = await http(`${f.web.url}tasks`, { method: 'POST', body: form({ _csrf: csrf, base: 'dev', test: 'npm test' }), headers: { cookie, origin: self, 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(plain.status, 303);
  assert.equal((await post({ origin: self, 'x-csrf-token': csrf }, form({ repo: '' }))).status, 400);
  const unknown = await post({ origin: self, 'x-csrf-token': csrf }, form({ repo: 'shpo' }));
  assert.equal(unknown.status, 400, 'an unknown repository is refused at submission');
  assert.match(unknown.body, /Unknown repository 'shpo'.*known: shop/);

  // bearer clients need no CSRF token, but a foreign Origin is still refused
  const id = await newDevTask(f.ws, 'to approve');
  const bearer = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', accept: 'application/json' };
  assert.equal((await http(`${f.web.url}tasks/${id}/approve`, { method: 'POST', body: '{"version":1}', headers: bearer })).status, 202);
  assert.equal((await http(`${f.web.url}tasks/${id}/abort`, { method: 'POST', body: '{}', headers: { ...bearer, origin: 'http://evil.example' } })).status, 403);
  const commands = readdirSync(f.ws.paths.inbox).filter((n) => n.includes('-approve-'));
  assert.equal(commands.length, 1);
  assert.deepEqual(JSON.parse(readFileSync(join(f.ws.paths.inbox, commands[0]!), 'utf8')).version, 1);
});

test('user-provided text is escaped: <script> title, raw HTML in Markdown, javascript: links', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  const { cookie } = await login(f.web);
  const id = await newDevTask(f.ws, '<script>alert("title")</script>', 'desc <img src=x onerror=alert(1)> [x](javascript:alert(2))');
  await proposePlan(f.ws, id, 1, '# Plan\n\n<script>alert("plan")</script>\n\n- step <b onmouseover=alert(3)>one</b>\n');
  await append(f.ws, id, [{ type: 'git.pushed', data: { remote: 'origin', branch: 'b', sha: 'abc', link: 'javascript:alert(4)' } }]);
  for (const url of [f.web.url, `${f.web.url}tasks/${id}`, `${f.web.url}tasks/${id}?part=live`]) {
    const page = await http(url, { headers: { cookie } });
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.body, /<script>alert|<img|<b |onerror=alert\(1\)>|href="javascript/i, url);
    assert.match(page.body, /&lt;script&gt;alert\(&quot;title&quot;\)&lt;\/script&gt;/);
  }
  const page = await http(`${f.web.url}tasks/${id}`, { headers: { cookie } });
  assert.match(page.body, /<h1>Plan<\/h1>/, 'the Markdown itself is rendered');
  assert.match(page.body, /&lt;script&gt;alert\(&quot;plan&quot;\)/);
  const raw = await http(`${f.web.url}tasks/${id}/records/plan-v1.md`, { headers: { cookie } });
  assert.equal(raw.status, 200);
  assert.match(String(raw.headers['content-type']), /^text\/plain/);
  assert.equal((await http(`${f.web.url}tasks/${id}/records/..%2F..%2Forchestra.json`, { headers: { cookie } })).status, 404);
});

test('the event stream pushes a task summary when the task changes', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  const { cookie } = await login(f.web);
  const id = await newDevTask(f.ws, 'watched');
  const frames: Array<{ event: string; data: any }> = [];
  let buffer = '';
  const req = httpRequest(`${f.web.url}events`, { headers: { cookie } }, (res) => {
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let at: number;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (event && data) frames.push({ event, data: JSON.parse(data) });
      }
    });
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end();
  t.after(() => req.destroy());
  const snapshot = await waitFor('snapshot', () => frames.find((x) => x.event === 'snapshot'));
  assert.equal(snapshot.data[0].id, id);
  assert.equal(snapshot.data[0].state, 'planning');

  await proposePlan(f.ws, id, 1, '# v1');
  const update = await waitFor('update', () => frames.find((x) => x.event === 'task' && x.data.state === 'planned'));
  assert.equal(update.data.id, id);
  assert.equal(update.data.planVersion, 1);
  // a task created by another writer (as intake would) appears too
  const other = await newDevTask(f.ws, 'second');
  await waitFor('new task', () => frames.find((x) => x.event === 'task' && x.data.id === other));
});

test('the web loop for orchestra up serves until stopped and is always idle', async (t) => {
  const f = await startFixture();
  t.after(() => f.close());
  const loop = createWebLoop({ ws: f.ws, actor: { kind: 'loop', name: 'web' }, log: createLogger('test') }, { port: 0, token: TOKEN }) as WebLoop;
  assert.equal(loop.name, 'web');
  await loop.start();
  const url = loop.server!.url;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'loopback only by default');
  assert.equal((await http(`${url}api/tasks`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  assert.equal(await loop.idle(), true);
  await loop.stop();
  await assert.rejects(http(url));
});
