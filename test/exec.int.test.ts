import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { probeIsolation, runSandboxed, scrubEnv, type IsolationCapabilities } from '../src/exec/sandbox.js';
import { OutputCollector } from '../src/exec/output.js';
import { OrchestraError } from '../src/core/errors.js';
import { detectTestCommand } from '../src/exec/detect-test.js';
import { procsWith } from './support/core-workspace.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'orchestra-exec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}


/** `sleep` processes with a unique duration, ignoring SIGTERM, one escaped with setsid. */
function runaway(t: { after: (fn: () => void) => void }): { token: string; command: string } {
  const token = `1000.${process.pid}${Math.floor(Math.random() * 1e6)}`;
  t.after(() => procsWith(token).forEach((pid) => process.kill(pid, 'SIGKILL'))); // if a test fails
  return { token, command: `trap '' TERM; sleep ${token} & setsid sleep ${token} & echo started; sleep ${token}` };
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(25);
  }
  return cond();
}

const bare: IsolationCapabilities = { prlimit: null, unshareNet: null, ip: null, bwrap: null, notes: [] };

test('timeout kills the whole tree, including ignored-SIGTERM and setsid grandchildren', { timeout: 20_000 }, async (t) => {
  const cwd = tempDir(t);
  const { token, command } = runaway(t);
  const run = runSandboxed({ command, cwd, timeoutMs: 1000, killGraceMs: 300 });
  assert.ok(await waitFor(() => procsWith(token).length >= 4, 900), 'all three sleeps were running');
  const r = await run;
  assert.equal(r.timedOut, true);
  assert.equal(r.passed, false);
  assert.match(r.output, /started/);
  assert.ok(r.durationMs >= 1000 && r.durationMs < 4000, `took ${r.durationMs} ms`);
  assert.deepEqual(procsWith(token), [], 'no process of the tree survives');
});

test('abort kills the tree; an already-aborted signal runs nothing', { timeout: 20_000 }, async (t) => {
  const cwd = tempDir(t);
  const { token, command } = runaway(t);
  const ac = new AbortController();
  const run = runSandboxed({ command, cwd, timeoutMs: 20_000, killGraceMs: 200, signal: ac.signal });
  assert.ok(await waitFor(() => procsWith(token).length >= 4, 2000));
  ac.abort();
  const r = await run;
  assert.equal(r.aborted, true);
  assert.equal(r.timedOut, false);
  assert.ok(r.durationMs < 3000);
  assert.deepEqual(procsWith(token), []);
  const pre = await runSandboxed({ command: `touch ran`, cwd, timeoutMs: 5000, signal: AbortSignal.abort() });
  assert.equal(pre.aborted, true);
  assert.throws(() => statSync(path.join(cwd, 'ran')));
});

test('background leftovers are killed when the command exits normally', { timeout: 20_000 }, async (t) => {
  const cwd = tempDir(t);
  const { token } = runaway(t);
  const r = await runSandboxed({ command: `sleep ${token} & echo done`, cwd, timeoutMs: 5000 });
  assert.equal(r.passed, true);
  assert.equal(r.output, 'done');
  assert.ok(r.durationMs < 2500);
  assert.ok(await waitFor(() => procsWith(token).length === 0, 500));
});

test('secrets are dropped from the environment and masked in the output', { timeout: 20_000 }, async (t) => {
  const cwd = tempDir(t);
  const env = {
    ...process.env,
    FOO_API_KEY: 'foo-key-value-111',
    ANTHROPIC_API_KEY: 'sk-ant-value-222',
    GITHUB_TOKEN: 'ghp_value_333333',
    DB_PASSWORD: 'hunter2-password',
    SHORT_TOKEN: 'abc',
    KEEP_ME: 'visible-value',
  };
  writeFileSync(path.join(cwd, 'leak.txt'), 'token is ghp_value_333333 and pw hunter2-password\n');
  const r = await runSandboxed({
    command: 'env; cat leak.txt; echo extra=passed-in-secret; echo abc-short',
    cwd,
    timeoutMs: 5000,
    env,
    redact: ['passed-in-secret', 'tiny'],
    passEnv: ['KEEP_*'],
  });
  assert.equal(r.passed, true);
  for (const name of ['FOO_API_KEY', 'ANTHROPIC_API_KEY', 'GITHUB_TOKEN', 'DB_PASSWORD', 'SHORT_TOKEN']) {
    assert.doesNotMatch(r.output, new RegExp(`^${name}=`, 'm'));
  }
  for (const value of ['foo-key-value-111', 'sk-ant-value-222', 'ghp_value_333333', 'hunter2-password', 'passed-in-secret']) {
    assert.ok(!r.output.includes(value), `${value} leaked`);
  }
  assert.match(r.output, /token is \[redacted\] and pw \[redacted\]/);
  assert.match(r.output, /extra=\[redacted\]/);
  assert.match(r.output, /abc-short/); // values under 6 chars are not masked
  assert.match(r.output, /^PATH=/m);
  assert.match(r.output, /^KEEP_ME=visible-value$/m);
  const scrubbed = scrubEnv({ PATH: '/bin', HOME: '/h', LANG: 'C', GEMINI_MODEL: 'x', TELEGRAM_BOT_TOKEN: 't', My_Secret: 's' });
  assert.deepEqual(scrubbed, { PATH: '/bin', HOME: '/h', LANG: 'C' });
});

test('network off: a local TCP server is unreachable from inside', { timeout: 20_000 }, async (t) => {
  const caps = await probeIsolation();
  if (!caps.unshareNet && !caps.bwrap) return t.skip(`no network namespace here: ${caps.notes.join('; ')}`);
  const server = net.createServer((s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const cwd = tempDir(t);
  const command =
    `node -e "require('net').connect(${port},'127.0.0.1').on('connect',()=>{console.log('CONNECTED');process.exit(0)})` +
    `.on('error',e=>{console.log('ERR',e.code);process.exit(3)})"`;
  const off = await runSandboxed({ command, cwd, timeoutMs: 5000 });
  assert.equal(off.isolation.network, 'namespace');
  assert.equal(off.exitCode, 3, off.output);
  assert.match(off.output, /ERR (ECONNREFUSED|ENETUNREACH)/);
  const on = await runSandboxed({ command, cwd, timeoutMs: 5000, network: 'on' });
  assert.equal(on.isolation.network, 'none');
  assert.equal(on.isolation.filesystem, 'bwrap');
  assert.match(on.output, /CONNECTED/, 'the same probe connects with the network on');
  const selfServe = `node -e "const s=require('net').createServer(c=>c.end()).listen(0,'127.0.0.1',()=>` +
    `require('net').connect(s.address().port,'127.0.0.1',()=>{console.log('LOOPBACK-OK');process.exit(0)}))"`;
  const inside = await runSandboxed({ command: selfServe, cwd, timeoutMs: 5000 });
  assert.match(inside.output, /LOOPBACK-OK/, `loopback works inside: ${inside.output}`);
});

test('prlimit: default limits let node (with wasm) start; a file-size limit stops a big write', { timeout: 20_000 }, async (t) => {
  const caps = await probeIsolation();
  if (!caps.prlimit) return t.skip(`prlimit unavailable: ${caps.notes.join('; ')}`);
  const cwd = tempDir(t);
  const node = await runSandboxed({
    command: `node -e "new WebAssembly.Memory({initial: 1}); console.log(1)"; ulimit -f`,
    cwd,
    timeoutMs: 10_000,
  });
  assert.equal(node.isolation.limits, 'prlimit');
  assert.equal(node.passed, true, node.output);
  assert.match(node.output, /^1\n\d+$/, 'node ran and a file-size limit was in force');
  const big = await runSandboxed({ command: 'head -c 3000000 /dev/zero > big.bin', cwd, timeoutMs: 5000, limits: { fileSizeMb: 1 } });
  assert.equal(big.passed, false);
  assert.ok(statSync(path.join(cwd, 'big.bin')).size <= 1024 * 1024);
});

test('without bwrap the command is refused with SANDBOX_UNAVAILABLE, unless the config opts out', { timeout: 20_000 }, async (t) => {
  const cwd = tempDir(t);
  await assert.rejects(
    runSandboxed({ command: 'touch ran', cwd, timeoutMs: 5000, capabilities: { ...bare, notes: ['bwrap (bubblewrap) is not installed'] } }),
    (err: unknown) =>
      err instanceof OrchestraError && err.code === 'SANDBOX_UNAVAILABLE' && /apt-get install bubblewrap/.test(err.message) && /not installed/.test(err.message),
  );
  assert.equal(existsSync(path.join(cwd, 'ran')), false, 'nothing ran');
  const r = await runSandboxed({ command: 'echo out; echo err >&2; exit 7', cwd, timeoutMs: 5000, capabilities: bare, isolation: 'unconfined' });
  assert.deepEqual(r.isolation, { mode: 'unconfined', network: 'none', limits: 'none', filesystem: 'none', proc: 'host', uid: null });
  assert.equal(r.exitCode, 7);
  assert.equal(r.passed, false);
  assert.equal(r.output, 'out\nerr');
});

test('output is capped to head + tail with a marker, in bounded memory', { timeout: 20_000 }, async (t) => {
  const cwd = tempDir(t);
  const r = await runSandboxed({ command: 'seq 1 1500000; echo FAILED-AT-END >&2', cwd, timeoutMs: 10_000, maxOutputBytes: 8192 });
  assert.equal(r.passed, true);
  assert.equal(r.truncated, true);
  assert.ok(r.output.startsWith('1\n2\n3\n'));
  assert.ok(r.output.endsWith('1499999\n1500000\nFAILED-AT-END'));
  const omitted = Number(/\[\.\.\. (\d+) bytes omitted \.\.\.\]/.exec(r.output)?.[1]);
  assert.ok(omitted > 10_000_000, `omitted ${omitted}`);
  assert.ok(r.output.length < 8192 + 100);

  // 300 MB through the pipe: memory must not grow with it.
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const huge = await runSandboxed({ command: 'yes 0123456789abcdef | head -c 300000000', cwd, timeoutMs: 20_000 });
  clearInterval(sampler);
  assert.equal(huge.truncated, true);
  assert.ok(huge.output.length <= 64 * 1024 + 100);
  assert.ok(peak - base < 150 * 1024 * 1024, `rss grew by ${Math.round((peak - base) / 1048576)} MB`);

  const c = new OutputCollector(1024);
  for (let i = 0; i < 10_000; i++) c.push(Buffer.alloc(4096, 97));
  assert.equal(c.retainedBytes, 1024);
  assert.equal(c.totalBytes, 4096 * 10_000);
});

test('detectTestCommand recognises each ecosystem', { timeout: 20_000 }, async (t) => {
  const cases: Array<[Record<string, string>, string | undefined]> = [
    [{ 'package.json': '{"scripts":{"test":"node --test"}}' }, 'npm test'],
    [{ 'package.json': '{"scripts":{"test":"echo \\"Error: no test specified\\" && exit 1"}}' }, undefined],
    [{ 'pytest.ini': '[pytest]\n' }, 'python3 -m pytest -q'],
    [{ 'pyproject.toml': '[project]\nname="x"\n\n[tool.pytest.ini_options]\naddopts="-q"\n' }, 'python3 -m pytest -q'],
    [{ 'pyproject.toml': '[project]\nname="x"\n' }, undefined],
    [{ 'setup.cfg': '[metadata]\nname=x\n[tool:pytest]\n' }, 'python3 -m pytest -q'],
    [{ 'conftest.py': '' }, 'python3 -m pytest -q'],
    [{ 'tests/test_app.py': 'def test_x(): pass\n' }, 'python3 -m pytest -q'],
    [{ 'go.mod': 'module x\n' }, 'go test ./...'],
    [{ 'Cargo.toml': '[package]\nname="x"\n' }, 'cargo test'],
    [{ 'Makefile': 'build:\n\tcc x.c\n\ntest: build\n\t./x\n' }, 'make test'],
    [{ 'Makefile': '.PHONY: test\ntest := 1\nall:\n\ttrue\n' }, undefined],
    [{ 'package.json': '{"scripts":{}}', 'Makefile': 'check test:\n\ttrue\n' }, 'make test'],
    [{ 'README.md': 'hi' }, undefined],
  ];
  for (const [files, expected] of cases) {
    const dir = tempDir(t);
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), content);
    }
    assert.equal(await detectTestCommand(dir), expected, JSON.stringify(files));
  }
});

test('encoded copies of a secret in the output are masked too: reversed, base64, base64url, hex, URL-encoded', { timeout: 20_000 }, async (t) => {
  const cwd = tempDir(t);
  const secret = 'sk-ant-Zq9/+xY7wV3uT1sR';
  const copies = {
    reversed: [...secret].reverse().join(''),
    base64: Buffer.from(secret).toString('base64'),
    base64url: Buffer.from(secret).toString('base64url'),
    hex: Buffer.from(secret).toString('hex'),
    url: encodeURIComponent(secret),
    shifted: Buffer.from(`xy${secret}`).toString('base64'), // the secret at another 3-byte alignment
  };
  // The file stands for anything a test could have obtained the copies from.
  writeFileSync(path.join(cwd, 'copies.txt'), Object.entries(copies).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const r = await runSandboxed({ command: 'cat copies.txt', cwd, timeoutMs: 5000, env: { ...process.env, ANTHROPIC_API_KEY: secret } });
  assert.equal(r.passed, true, r.output);
  for (const [kind, value] of Object.entries(copies)) {
    assert.ok(!r.output.includes(kind === 'shifted' ? value.slice(4, -4) : value), `${kind} copy leaked:\n${r.output}`);
    assert.match(r.output, new RegExp(`^${kind}=.*\\[redacted\\]`, 'm'), `${kind} copy is marked redacted`);
  }
});

test('a sandboxed command sees allow-listed variables only; secrets under any name, and URL passwords, are masked', { timeout: 20_000 }, async (t) => {
  const cwd = tempDir(t);
  const env = {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    DATABASE_URL: 'postgres://app:Sup3rS3cretPw@db/prod',
    GH_PAT: 'ghp_patvalue1234567',
    OPENAI_APIKEY: 'sk-openai-value-99',
    SECRET_KEY_BASE: 'a1b2c3d4e5f6a7b8c9d0',
    SOME_RANDOM_SETTING: 'not-secret-but-not-passed',
    NODE_ENV: 'test',
  };
  writeFileSync(path.join(cwd, 'found.txt'), 'db pw Sup3rS3cretPw and pat ghp_patvalue1234567\n');
  const r = await runSandboxed({ command: 'env; cat found.txt', cwd, timeoutMs: 5000, env, passEnv: ['NODE_ENV'] });
  assert.equal(r.passed, true, r.output);
  for (const name of ['DATABASE_URL', 'GH_PAT', 'OPENAI_APIKEY', 'SECRET_KEY_BASE', 'SOME_RANDOM_SETTING']) {
    assert.doesNotMatch(r.output, new RegExp(`^${name}=`, 'm'), `${name} reached the command`);
  }
  assert.match(r.output, /^NODE_ENV=test$/m, 'sandbox.passEnv passes a named variable');
  assert.match(r.output, /^LANG=C.UTF-8$/m);
  assert.match(r.output, /db pw \[redacted\] and pat \[redacted\]/);
});
