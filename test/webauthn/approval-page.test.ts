import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { displayValue, escapeHtml, renderPage } from '../../src/webauthn/approval-page.js'
import { PAGE_CSP, PAGE_SCRIPT, PAGE_STYLE } from '../../src/webauthn/page-assets.js'

describe('webauthn/approval-page', () => {
  it('escapes markup and shows characters that would hide or reorder text', () => {
    assert.equal(escapeHtml('<img src=x onerror="a()">&\''), '&lt;img src=x onerror=&quot;a()&quot;&gt;&amp;&#39;')
    assert.equal(escapeHtml('pay \u202Eevil\u202C now\u0000'), 'pay \\u{202e}evil\\u{202c} now\\u{0000}')
    assert.equal(escapeHtml('two\nlines\tand tab'), 'two\nlines\tand tab')
  })

  it('says body values in words: bytes as hex, numbers in decimal, records as JSON', () => {
    assert.equal(displayValue('text'), 'text')
    assert.equal(displayValue(12n), '12')
    assert.equal(displayValue(Uint8Array.of(0xab, 0x01)), '0xab01')
    assert.equal(displayValue({ n: 1n, key: Uint8Array.of(1) }), '{\n  "n": "1",\n  "key": "0x01"\n}')
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    assert.equal(displayValue(cycle), '(a value that cannot be shown)')
  })

  it('renders every field as text and the options as an attribute the script reads back', () => {
    const html = renderPage({
      kind: 'approval',
      heading: 'Actions',
      endpoint: '/api/approve',
      items: [
        {
          id: 'a1',
          title: '<script>alert(1)</script>',
          fields: [
            ['Actor', 'alice"><b>'],
            ['note', '\u202Egnp.exe']
          ],
          options: { challenge: 'abc', rpId: 'localhost', note: '"</script>' },
          button: 'Approve'
        }
      ],
      notShown: 2,
      empty: 'none'
    })
    assert.ok(!html.includes('<script>alert(1)'))
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'))
    assert.ok(html.includes('<dd>alice&quot;&gt;&lt;b&gt;</dd>'))
    assert.ok(html.includes('\\u{202e}gnp.exe'))
    assert.ok(
      html.includes(
        'data-options="{&quot;challenge&quot;:&quot;abc&quot;,' +
          '&quot;rpId&quot;:&quot;localhost&quot;,&quot;note&quot;:&quot;\\&quot;&lt;/script&gt;&quot;}"'
      )
    )
    assert.ok(html.includes('2 more pending'))
    assert.equal(html.split('<script>').length, 2, "one script element: the page's own")
    assert.ok(html.includes(`<script>${PAGE_SCRIPT}</script>`))
  })

  it('allows exactly its own script and style by hash, and nothing else', () => {
    const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`
    assert.equal(
      PAGE_CSP,
      [
        "default-src 'none'",
        `script-src ${hash(PAGE_SCRIPT)}`,
        `style-src ${hash(PAGE_STYLE)}`,
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'"
      ].join('; ')
    )
  })
})
