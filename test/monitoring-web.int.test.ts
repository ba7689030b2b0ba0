import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startWeb } from '../src/adapters/web/index.js';
import { AUDIT_STREAM } from '../src/core/paths.js';
import { makeWorkspace, testActor } from './support/core-workspace.js';
import { HOSTILE, seed } from './support/monitoring-fixture.js';
import { http } from './support/web-harness.js';

const TOKEN = 'access-token-0123456789';
const ADMIN = 'admin-token-abcdefghijklmnop';
const bearer = { authorization: `Bearer ${TOKEN}` };

test('the Security view: for the admin only, with refusals, rate-limit hits, secret reads and alerts, all escaped', async (t) => {
  const ws = await makeWorkspace(t);
  await seed(ws);
  await ws.appendTo(AUDIT_STREAM, (s) => s, () => ({
    actor: testActor,
    events: [{ type: 'alert.fired', data: { key: 'stuckTask:x', rule: 'stuckTask', subject: 'x', message: `task "${HOSTILE}" is stuck` } }],
  }));
  const web = await startWeb(ws, { port: 0, token: TOKEN, adminToken: ADMIN });
  t.after(() => web.stop());
  const page = `${web.url}security`;
  const refusedAdmin = async () => (await ws.readStream(AUDIT_STREAM)).records.flatMap((r) => r.events).filter((e) => e.type === 'access.refused' && /admin/.test(String(e.data.reason)));

  const plain = await http(page, { headers: bearer });
  assert.equal(plain.status, 403, 'a user with the access token but not the admin token');
  assert.doesNotMatch(plain.body, /RATE_LIMITED|DEPLOY_KEY/);
  assert.equal((await refusedAdmin()).length, 1, 'the refusal is recorded (then rate-limited per address, like every refusal)');
  assert.equal((await http(page)).status, 401, 'no access token: refused like every page');
  assert.equal((await http(page, { headers: { ...bearer, 'x-orchestra-admin-token': `${ADMIN}x` } })).status, 403);
  assert.equal((await http(`${page}?admin=wrong`, { headers: bearer })).status, 403);

  const view = await http(page, { headers: { ...bearer, 'x-orchestra-admin-token': ADMIN } });
  assert.equal(view.status, 200);
  const body = view.body;
  assert.match(body, /<h2>Active alerts \(1\)<\/h2>/);
  assert.match(body, /<tr><td><code>RATE_LIMITED<\/code><\/td><td>1<\/td><td>0<\/td><\/tr>/, 'refusals by reason: in the last hour, none since the web started');
  assert.match(body, /<h2>Rate-limit hits \(1 in the last hour\)<\/h2>/);
  assert.match(body, /flood\.md: too many files/);
  assert.match(body, /<h2>Secret reads \(0 since the web started\)<\/h2>/);
  assert.match(body, /DEPLOY_KEY read by executor/);
  assert.match(body, /<code>UNAUTHORIZED<\/code>/);
  assert.match(body, /<code>TOOL_REFUSED<\/code>/);
  assert.ok(!body.includes('<script>alert(1)'), 'hostile text never reaches the page as markup');
  assert.ok(!body.includes('<img src=x'), 'nor as an element');
  assert.ok(body.includes('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;'), 'it is shown as text');
  assert.doesNotMatch(body, /<script/i, 'no script at all on the page');

  // Every user of the web page sees the open alerts above the task list (escaped too).
  const list = await http(web.url, { headers: bearer });
  assert.equal(list.status, 200);
  assert.match(list.body, /<section class="card" id="alerts" role="alert"><h2>Active alerts \(1\)<\/h2><ul><li><b>stuckTask<\/b>: task &quot;&lt;script&gt;alert\(1\)/);
  assert.ok(!list.body.includes('<img src=x'));

  // The browser way: ?admin= once gives an admin session cookie (HttpOnly, SameSite=Strict).
  const login = await http(`${page}?admin=${ADMIN}`, { headers: bearer });
  assert.equal(login.status, 303);
  assert.equal(login.headers.location, '/security');
  const cookie = login.headers['set-cookie']![0]!;
  assert.match(cookie, /^orchestra_admin_\d+=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
  assert.ok(!cookie.includes(ADMIN), 'the cookie is not the token');
  assert.equal((await http(page, { headers: { ...bearer, cookie: cookie.split(';')[0]! } })).status, 200);
  assert.equal((await http(page, { headers: { ...bearer, cookie: cookie.split(';')[0]!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) } })).status, 403, 'a forged cookie (its last character changed)');
  assert.equal((await http(page, { method: 'POST', headers: { ...bearer, 'x-orchestra-admin-token': ADMIN } })).status, 405);
});

test('without an admin token there is no Security view; a weak or reused admin token is refused at start', async (t) => {
  const ws = await makeWorkspace(t);
  const web = await startWeb(ws, { port: 0, token: TOKEN });
  t.after(() => web.stop());
  assert.equal((await http(`${web.url}security`, { headers: { ...bearer, 'x-orchestra-admin-token': ADMIN } })).status, 404);
  await assert.rejects(startWeb(ws, { port: 0, token: TOKEN, adminToken: TOKEN }), { code: 'INVALID_INPUT', message: /must differ/ });
  await assert.rejects(startWeb(ws, { port: 0, token: TOKEN, adminToken: 'short' }), { code: 'INVALID_INPUT' });
});
