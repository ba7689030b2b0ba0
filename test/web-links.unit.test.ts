import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMarkdown } from '../src/adapters/web/markdown.js';
import { safeHref } from '../src/adapters/web/url-policy.js';

/** The href values of every <a> in rendered HTML, unescaped. */
const hrefs = (html: string) => [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&').replace(/&#39;/g, "'").replace(/&quot;/g, '"'));

/** Off-site by the browser's reading although they look like local paths, or scripts. */
const REFUSED = [
  '/\\evil.example', // the reported example: browsers read /\ like //
  '\\/evil.example',
  '\\\\evil.example',
  '//evil.example',
  '/%5Cevil.example',
  '/%09/evil.example', // an encoded tab, dropped by a lenient decoder
  '/%C0%AF/evil.example', // an overlong UTF-8 slash
  '/%u002f/evil.example', // IIS-style escape
  '/%5cevil.example',
  '/%2F/evil.example',
  '/%255Cevil.example',
  '/\t/evil.example',
  '/\n/evil.example',
  '/\r\\evil.example',
  ' \u0001//evil.example',
  'java\tscript:alert(1)',
  'java\nscript:alert(1)',
  'JavaScript:alert(1)',
  ' javascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  'file:///etc/passwd',
];

test('link policy: protocol-relative look-alikes and script URLs are refused, whatever the spelling', () => {
  for (const href of REFUSED) assert.equal(safeHref(href), undefined, JSON.stringify(href));
  // The oracle agrees: each refused path-looking target really leaves the site in a browser.
  for (const href of ['/\\evil.example', '\\/evil.example', '/\t/evil.example']) assert.equal(new URL(href, 'https://site.example/').host, 'evil.example');
});

test('link policy: http(s), mailto, same-site paths and fragments pass (cleaned as a browser would)', () => {
  assert.equal(safeHref('https://example.com/a?b=1#c'), 'https://example.com/a?b=1#c');
  assert.equal(safeHref('http://example.com'), 'http://example.com/');
  assert.equal(safeHref('mailto:a@example.com'), 'mailto:a@example.com');
  assert.equal(safeHref('/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV'), '/tasks/01ARZ3NDEKTSV4RRFFQ69G5FAV');
  assert.equal(safeHref('/'), '/');
  assert.equal(safeHref('/a/%5Cb'), '/a/%5Cb', 'an encoded backslash later in the path stays same-site');
  assert.equal(safeHref('#plan'), '#plan');
  assert.equal(safeHref('/ta\tsks'), '/tasks', 'tabs are removed, as browsers do');
  assert.equal(safeHref(''), undefined);
  assert.equal(safeHref(undefined), undefined);
});

test('Markdown: [y](/\\evil.example) and its variants render no off-site link; safe links still render', () => {
  const sources = [
    '[y](/\\evil.example)',
    '[y](\\/evil.example)',
    '[y](/%5Cevil.example)',
    '[y](</\t/evil.example>)',
    '[y](<java\tscript:alert(1)>)',
    '[y](//evil.example)',
    '![img](/\\evil.example/x.png)',
    '[y]: /\\evil.example\n\n[ref][y]',
    '<//evil.example>',
  ];
  for (const source of sources) {
    const html = renderMarkdown(source);
    for (const href of hrefs(html)) {
      // The browser's own reading (WHATWG URL, as node implements it) must stay on the site.
      assert.equal(new URL(href, 'https://site.example/tasks/T').host, 'site.example', `${JSON.stringify(source)} rendered ${html}`);
      assert.doesNotMatch(href, /^[/\\]{2}|^[/\\]%(2f|5c)/i, `${JSON.stringify(source)} rendered ${html}`);
    }
  }
  assert.deepEqual(hrefs(renderMarkdown('[a](https://example.com/x) [b](/tasks/T) [c](#top)')), ['https://example.com/x', '/tasks/T', '#top']);
});
