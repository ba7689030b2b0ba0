/** The forge's pure parts: comment commands, nonces, remote parsing, forge choice, error texts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commentAction, forgeActor, nonceFor, planComment } from '../src/adapters/forge/text.js';
import { isUlid } from '../src/core/ids.js';
import { ForgeConfigSchema } from '../src/core/forge-config.js';
import { isTrustedActor } from '../src/core/security-profiles.js';
import { parseConfig } from '../src/core/config.js';
import { isSecretName } from '../src/core/env-secrets.js';
import { remoteRepo, selectForge, type ForgeChoice } from '../src/forge/select.js';

const reasonOf = (c: ForgeChoice) => ('reason' in c ? String(c.reason) : '');
import { forgeHttpError, waitFromHeaders } from '../src/forge/http-errors.js';

test('comment commands: /approve vN alone on a line, mentions of the bot as feedback, nothing else', () => {
  assert.deepEqual(commentAction('/approve v2', 'orchestra'), { kind: 'approve', version: 2 });
  assert.deepEqual(commentAction('LGTM\n  /approve 3  \nthanks', 'orchestra'), { kind: 'approve', version: 3 });
  assert.equal(commentAction('please /approve v2 later', 'orchestra'), undefined);
  assert.equal(commentAction('> /approve v2', 'orchestra'), undefined, 'a quoted line is not a command');
  assert.equal(commentAction('/approve v99999999', 'orchestra'), undefined);
  assert.deepEqual(commentAction('@orchestra use a + b', 'orchestra'), { kind: 'feedback', text: 'use a + b' });
  assert.deepEqual(commentAction('Hey @Orchestra, also docs', 'orchestra'), { kind: 'feedback', text: 'Hey , also docs' });
  assert.equal(commentAction('@orchestra-bot hi', 'orchestra'), undefined);
  assert.equal(commentAction('mail me at x@orchestra.dev', 'orchestra'), undefined);
  assert.equal(commentAction('no mention here', 'orchestra'), undefined);
  assert.equal(commentAction('@orchestra', 'orchestra'), undefined, 'an empty request is nothing');
  const long = commentAction(`@orchestra ${'z'.repeat(1_000_000)}`, 'orchestra');
  assert.ok(long?.kind === 'feedback' && long.text.length <= 10_001);
  const ctl = commentAction('@orchestra \x1b[2Jclear\u202e', 'orchestra');
  assert.ok(ctl?.kind === 'feedback' && !/[\x1b\u202e]/.test(ctl.text));
});

test('a comment always gives the same ULID nonce, different comments different ones', () => {
  const a = nonceFor('github:o/r:1001');
  assert.ok(isUlid(a));
  assert.equal(nonceFor('github:o/r:1001'), a);
  assert.notEqual(nonceFor('github:o/r:1002'), a);
  for (let i = 0; i < 200; i++) assert.ok(isUlid(nonceFor(String(i))));
});

test('forge users are untrusted unless config names them; tokens are secret-named', () => {
  const config = parseConfig({});
  assert.equal(isTrustedActor(config, forgeActor('github', 'alice')), false);
  const trusting = parseConfig({ security: { trustedActors: ['cli', 'adapter:forge:github:alice'] } });
  assert.equal(isTrustedActor(trusting, forgeActor('github', 'alice')), true);
  assert.equal(isTrustedActor(trusting, forgeActor('github', 'alicex')), false);
  assert.ok(isSecretName('GITHUB_TOKEN') && isSecretName('GITLAB_TOKEN'));
});

test('the plan comment quotes model text: no live mention, no command line', () => {
  const task = { id: '01J0000000000000000000000A', dev: { plans: [{ version: 2, summary: '/approve v2\n@everyone look', steps: ['@alice do it'], file: '', criteria: [], risks: [], at: '' }] } } as never;
  const text = planComment(task, 'orchestra', ['alice']);
  assert.equal(commentAction(text.replace(/`\/approve v2`/, ''), 'nobody'), undefined);
  assert.ok(!/(^|[^\u200b])@everyone/.test(text) && !/ @alice/.test(text));
});

test('forge choice: none, auto by host, repo from the remote, no token means no forge', () => {
  const cfg = (c: Record<string, unknown>) => ForgeConfigSchema.parse(c);
  assert.deepEqual(remoteRepo('git@github.com:o/r.git'), { host: 'github.com', path: 'o/r' });
  assert.deepEqual(remoteRepo('https://x-access:tok@gitlab.com/g/sub/p.git'), { host: 'gitlab.com', path: 'g/sub/p' });
  assert.equal(remoteRepo('/srv/git/r.git'), undefined);
  assert.equal(remoteRepo('https://github.com/o/../etc'), undefined);
  assert.match(reasonOf(selectForge(cfg({}))), /no forge/);
  assert.match(reasonOf(selectForge(cfg({ kind: 'auto' }), { pushRemote: 'https://example.org/o/r.git', env: { GITHUB_TOKEN: 't' } })), /neither/);
  assert.match(reasonOf(selectForge(cfg({ kind: 'auto' }), { pushRemote: 'git@github.com:o/r.git', env: {} })), /GITHUB_TOKEN/);
  const gh = selectForge(cfg({ kind: 'auto' }), { pushRemote: 'git@github.com:o/r.git', env: { GITHUB_TOKEN: 't' } });
  assert.deepEqual([gh.forge?.kind, gh.forge?.repo], ['github', 'o/r']);
  const gl = selectForge(cfg({ kind: 'gitlab', repo: 'g/p' }), { env: { GITLAB_TOKEN: 't' } });
  assert.deepEqual([gl.forge?.kind, gl.forge?.repo], ['gitlab', 'g/p']);
  assert.throws(() => cfg({ repo: '../x' }));
  assert.throws(() => cfg({ apiBase: 'file:///etc' }));
  assert.throws(() => cfg({ allowedUsers: ['a b'] }));
});

test('forge errors: typed codes, rate-limit waits, and never the token', () => {
  const none = () => undefined;
  assert.equal(forgeHttpError('x', 401, '', none).code, 'FORGE_AUTH');
  assert.equal(forgeHttpError('x', 403, 'Resource not accessible', none).code, 'FORGE_AUTH');
  const limited = forgeHttpError('x', 403, '', (h) => ({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 30) })[h]);
  assert.equal(limited.code, 'FORGE_UNAVAILABLE');
  assert.ok(Number(limited.details?.retryAfterMs) > 20_000);
  assert.equal(forgeHttpError('x', 502, '', none).code, 'FORGE_UNAVAILABLE');
  assert.equal(forgeHttpError('x', undefined, 'ECONNREFUSED', none).code, 'FORGE_UNAVAILABLE');
  assert.ok(!forgeHttpError('x', 500, 'bad token sekrit-123 given', none, 'sekrit-123').message.includes('sekrit-123'));
  assert.equal(waitFromHeaders((h) => ({ 'retry-after': '7' })[h]), 7000);
  assert.equal(waitFromHeaders((h) => ({ 'x-ratelimit-remaining': '12' })[h]), 0);
});
