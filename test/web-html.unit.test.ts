import { test } from 'node:test';
import assert from 'node:assert/strict';
import { html, isSafeHtml, join, raw, SafeHtml } from '../src/adapters/web/html.js';
import { planSectionsHtml } from '../src/adapters/web/views/plan.js';

test('html: an interpolated <script> is text, not markup', () => {
  const title = '<script>alert(1)</script>';
  const out = html`<h1>${title}</h1>`;
  assert.ok(isSafeHtml(out));
  assert.equal(out.toString(), '<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>');
  assert.equal(String(html`${'&amp;'}`), '&amp;amp;', 'already-escaped text is escaped again: it is text');
});

test('html: quotes in attribute values cannot end the attribute', () => {
  const value = `x" onmouseover="alert(1)' data-y='z`;
  const out = String(html`<input value="${value}"><a title='${value}'>`);
  assert.equal(out, '<input value="x&quot; onmouseover=&quot;alert(1)&#39; data-y=&#39;z"><a title=\'x&quot; onmouseover=&quot;alert(1)&#39; data-y=&#39;z\'>');
  assert.doesNotMatch(out, /onmouseover="/);
});

test('html: nested fragments pass through once, their own values escaped once', () => {
  const item = (text: string) => html`<li>${text}</li>`;
  const out = html`<ul>${item('a & b')}${html`<li class="${'c"d'}">${'<e>'}</li>`}</ul>`;
  assert.equal(String(out), '<ul><li>a &amp; b</li><li class="c&quot;d">&lt;e&gt;</li></ul>');
});

test('html: arrays are joined without a separator; join() takes one', () => {
  const items = ['<a>', 'b'].map((s) => html`<li>${s}</li>`);
  assert.equal(String(html`<ol>${items}</ol>`), '<ol><li>&lt;a&gt;</li><li>b</li></ol>');
  assert.equal(String(html`${['<x>', html`<y>`, ['<z>']]}`), '&lt;x&gt;<y>&lt;z&gt;', 'plain strings in arrays are escaped, nested arrays flattened');
  assert.equal(String(join(items, html`<br>`)), '<li>&lt;a&gt;</li><br><li>b</li>');
  assert.equal(String(join(['a', '', undefined, 'b'], ' · ')), 'a · b', 'empty parts are left out');
  assert.equal(String(join(['a', 'b'], '<&>')), 'a&lt;&amp;&gt;b', 'a plain separator is escaped');
});

test('html: raw() passes trusted HTML through, and is a SafeHtml', () => {
  const trusted = raw('<b>bold</b>');
  assert.ok(trusted instanceof SafeHtml);
  assert.equal(String(html`<p>${trusted}</p>`), '<p><b>bold</b></p>');
  assert.equal(raw(trusted), trusted, 'raw of SafeHtml is itself');
  assert.throws(() => new (SafeHtml as unknown as new (k: symbol, v: string) => SafeHtml)(Symbol('SafeHtml'), '<x>'), TypeError, 'only html/raw make SafeHtml');
  assert.equal(JSON.stringify({ page: html`<i>${'<'}</i>` }), '{"page":"<i>&lt;</i>"}');
});

test('html: undefined, null and false render nothing; numbers and true render as text', () => {
  assert.equal(String(html`[${undefined}|${null}|${false}]`), '[||]');
  assert.equal(String(html`${0}/${1.5}/${true}`), '0/1.5/true');
  const open = false;
  assert.equal(String(html`<details${open && html` open`}>`), '<details>');
});

test('plan sections on the web use the pipeline labels and order', () => {
  const out = String(planSectionsHtml({ version: 1, file: 'x', at: '', summary: 'S <1>', steps: ['a', 'b'], criteria: ['c'], risks: [] }));
  assert.equal(out, '<h4>Summary</h4><p>S &lt;1&gt;</p><h4>Steps</h4><ol><li>a</li><li>b</li></ol><h4>Acceptance criteria</h4><ul><li>c</li></ul>');
});
