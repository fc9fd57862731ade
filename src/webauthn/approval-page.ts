import { toHex } from '../common/index.js'
import { PAGE_SCRIPT, PAGE_STYLE } from './page-assets.js'

/**
 * The HTML of the approval and enrolment pages. Everything that comes from an action or an
 * enrolment is text: HTML-escaped, with control and bidirectional-override characters shown as
 * `\u{…}` so that no value can hide or reorder what the approver reads.
 */

/** One pending item as a page lists it. */
export interface PageItem {
  /** The id the page posts back. */
  readonly id: string
  /** Heading (the action type, or "Enrol a security key"). */
  readonly title: string
  /** Labelled lines shown in order. */
  readonly fields: ReadonlyArray<readonly [label: string, value: string]>
  /** The WebAuthn options (their JSON form) the button's ceremony uses. */
  readonly options: unknown
  readonly button: string
}

export interface PageContent {
  readonly kind: 'approval' | 'enrolment'
  readonly heading: string
  /** Where the script posts the answer. */
  readonly endpoint: string
  readonly items: readonly PageItem[]
  /** Pending items left off the page (over the listing bound). */
  readonly notShown: number
  /** What the page says when nothing is pending. */
  readonly empty: string
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

// C0 and C1 controls but tab and newline, and the marks and overrides that reorder text.
const HIDDEN_CHARACTERS = new RegExp(
  '[\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f' + '\\u061c\\u200b-\\u200f\\u202a-\\u202e\\u2066-\\u2069\\ufeff]',
  'g'
)

/** `text` made safe for HTML text, with invisible characters made visible. */
export function escapeHtml(text: string): string {
  return escapeAttribute(
    text.replace(HIDDEN_CHARACTERS, (character) => `\\u{${character.charCodeAt(0).toString(16).padStart(4, '0')}}`)
  )
}

/** `text` made safe for a double-quoted attribute value (the browser gives the value back unchanged). */
export function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character]!)
}

/** An action body's value in words: text as it is, bytes as hex, numbers in decimal, anything else as JSON. */
export function displayValue(value: unknown): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value)
  if (value === null || value === undefined) return String(value)
  if (value instanceof Uint8Array) return `0x${toHex(value)}`
  try {
    return (
      JSON.stringify(
        value,
        (_key, inner: unknown) => {
          if (typeof inner === 'bigint') return inner.toString()
          if (inner instanceof Uint8Array) return `0x${toHex(inner)}`
          return inner
        },
        2
      ) ?? String(value)
    )
  } catch {
    return '(a value that cannot be shown)'
  }
}

/** The whole page. */
export function renderPage(content: PageContent): string {
  const items = content.items.map(renderItem).join('\n')
  const rest =
    content.notShown > 0 ? `<p>${content.notShown} more pending: answer these first, then reload the page.</p>` : ''
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(content.heading)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body data-kind="${content.kind}" data-endpoint="${escapeAttribute(content.endpoint)}">
<h1>${escapeHtml(content.heading)}</h1>
${content.items.length === 0 ? `<p>${escapeHtml(content.empty)}</p>` : items}
${rest}
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`
}

function renderItem(item: PageItem): string {
  const fields = item.fields
    .map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`)
    .join('')
  return `<section>
<h2>${escapeHtml(item.title)}</h2>
<dl>${fields}</dl>
<button type="button" data-id="${escapeAttribute(item.id)}"
 data-options="${escapeAttribute(JSON.stringify(item.options))}">${escapeHtml(item.button)}</button>
<p class="status" role="status"></p>
</section>`
}
