import { createHash } from 'node:crypto'

/**
 * The one script and one style sheet of the approval and enrolment pages, served inline and
 * allowed by their hashes in the Content-Security-Policy (nothing else may run or style).
 *
 * The script reads each button's options (the JSON form of the WebAuthn options, WebAuthn L3
 * §5.1.9), runs the ceremony, posts `{ id, credential: credential.toJSON() }` to the page's
 * endpoint and writes the answer into the button's status line as text (never as HTML).
 * `data-outcome` on the status line says how it ended: done, refused or failed.
 */
export const PAGE_SCRIPT = `'use strict'
const kind = document.body.dataset.kind
const endpoint = document.body.dataset.endpoint
for (const button of document.querySelectorAll('button[data-id]')) {
  button.addEventListener('click', () => { void answer(button) })
}
async function answer (button) {
  const status = button.nextElementSibling
  button.disabled = true
  status.dataset.outcome = 'waiting'
  status.textContent = 'Touch your security key…'
  try {
    const options = JSON.parse(button.dataset.options)
    const credential = kind === 'enrolment'
      ? await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
      : await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) })
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify({ id: button.dataset.id, credential: credential.toJSON() })
    })
    const result = await response.json()
    status.textContent = result.ok === true ? result.message : 'Refused: ' + result.message
    status.dataset.outcome = result.ok === true ? 'done' : 'refused'
  } catch (error) {
    status.textContent = 'Not answered: ' + (error instanceof Error ? error.message : String(error))
    status.dataset.outcome = 'failed'
    button.disabled = false
  }
}
`

export const PAGE_STYLE = `body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 48rem }
body { padding: 0 1rem }
section { border: 1px solid #888; border-radius: 6px; margin: 1rem 0; padding: 0 1rem 1rem }
dt { font-weight: bold }
dd { margin: 0 0 0.5rem 1rem; white-space: pre-wrap; overflow-wrap: anywhere; font-family: monospace }
code { overflow-wrap: anywhere }
.status { min-height: 1.5em }
`

function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`
}

/**
 * The policy of every page: nothing loads or runs but the inline script and style above, the
 * page may only talk to its own origin, post no forms, and be framed by nobody.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${cspHash(PAGE_SCRIPT)}`,
  `style-src ${cspHash(PAGE_STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join('; ')
