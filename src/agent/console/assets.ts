/**
 * The console's page, style sheet and script: static, served from the package, under a
 * Content-Security-Policy that lets only them run and load (no inline script or style, no other
 * origin). The script writes what the API says as text, never as HTML.
 */

export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fleet console</title>
<link rel="icon" href="/favicon.svg">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header><h1>fleet console</h1><span id="self"></span><span id="who"></span><span id="live" data-state="connecting">connecting…</span></header>
<section id="login" hidden>
  <h2>Sign in</h2>
  <p>Paste the token from <code>console.token</code> in the agent's state directory, or open the address <code>fleet console</code> prints.</p>
  <input id="token" type="password" autocomplete="off" aria-label="console token">
  <button id="signin" type="button">Sign in</button>
  <p>Or, as an operator the owner enrolled with a security key, on <code>http://localhost:PORT/</code>:</p>
  <button id="signin-key" type="button">Sign in with my security key</button>
  <p id="login-status" role="status"></p>
</section>
<main id="main" hidden>
  <section id="alerts-section"><h2>Alerts</h2><ul id="alerts"></ul></section>
  <section><h2>Members</h2>
    <table id="members"><thead><tr><th>Device</th><th>Host</th><th>Role</th><th>TPM</th><th>Standing</th><th>Online</th></tr></thead><tbody></tbody></table>
  </section>
  <section><h2>Verdicts</h2>
    <table id="verdicts"><thead><tr><th>Device</th><th>Host</th><th>Trusted</th><th>Why</th><th>Policy</th><th>At</th></tr></thead><tbody></tbody></table>
  </section>
  <section><h2>Peers</h2>
    <table id="peers"><thead><tr><th>Peer</th><th>Device</th><th>Reached at</th></tr></thead><tbody></tbody></table>
  </section>
  <section><h2>Feeds</h2>
    <table id="feeds"><thead><tr><th>Feed</th><th>Entries</th><th>Sealed</th><th>Witnesses</th><th></th></tr></thead><tbody></tbody></table>
  </section>
  <section id="timeline-section" hidden><h2 id="timeline-title">Timeline</h2>
    <p id="timeline-info"></p>
    <div id="timeline" role="table">
      <div class="row head" role="row"><span>Seq</span><span>Time</span><span>Action</span><span>Actor</span><span>Sealed</span><span>Body</span><span>Proof</span></div>
      <div id="timeline-rows"></div>
    </div>
  </section>
</main>
</body>
</html>
`

export const CONSOLE_CSS = `body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1em; background: #1b1f24; color: #fff; }
header h1 { font-size: 1.1em; margin: 0; }
#self { font-family: monospace; opacity: .8; }
#live { margin-left: auto; font-size: .9em; }
#live[data-state="live"] { color: #7ee787; }
#live[data-state="lost"] { color: #ffa198; }
main, #login { padding: 0 1em 2em; }
h2 { font-size: 1em; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #e4e7eb; vertical-align: top; }
td.id { font-family: monospace; }
tr[data-standing="revoked"], tr[data-standing="quarantined"], tr[data-trusted="false"] { background: #fff0f0; }
#alerts li { background: #fff4e0; margin: .2em 0; padding: .3em .5em; list-style: none; }
#alerts { padding: 0; }
#alerts li[data-type="alert.equivocation"], #alerts li[data-type="alert.cloned_authenticator"], #alerts li[data-type="alert.revocation"] { background: #ffe0e0; }
ul.reasons { margin: 0; padding-left: 1.2em; }
#timeline { background: #fff; }
#timeline .row { display: grid; grid-template-columns: 5em 15em 12em 14em 5em 1fr 5em; border-bottom: 1px solid #e4e7eb; }
#timeline .row > span { padding: .2em .5em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#timeline .head { font-weight: bold; }
/* Rows off screen are laid out when they come into view: a page of 5,000 draws at once. */
#timeline-rows .row { content-visibility: auto; contain-intrinsic-size: auto 1.8em; }
`

export const CONSOLE_JS = `'use strict'
const $ = (id) => document.getElementById(id)
const short = (id) => (typeof id === 'string' && id.length > 16 ? id.slice(0, 12) + '…' : String(id ?? '—'))
let names = new Map()
let shownFeed
let refreshing = false
let again = false

function cell (row, text, className) {
  const td = document.createElement('td')
  td.textContent = text
  if (className !== undefined) td.className = className
  row.appendChild(td)
  return td
}
function span (row, text) {
  const cell = document.createElement('span')
  cell.textContent = text
  row.appendChild(cell)
  return cell
}
function fill (tableId, items, draw) {
  const body = $(tableId).tBodies[0]
  const rows = document.createDocumentFragment()
  for (const item of items) {
    const row = document.createElement('tr')
    draw(row, item)
    rows.appendChild(row)
  }
  body.replaceChildren(rows)
}
const SESSION = 'fleet-console-session'
function authorization () {
  return { authorization: 'Bearer ' + (sessionStorage.getItem(SESSION) ?? '') }
}
async function api (path) {
  const response = await fetch(path, { headers: authorization(), cache: 'no-store' })
  if (response.status === 401) {
    sessionStorage.removeItem(SESSION)
    showLogin('')
    throw new Error('signed out')
  }
  const value = await response.json()
  if (!response.ok) throw new Error(value.message ?? response.statusText)
  return value
}
function showLogin (message) {
  $('main').hidden = true
  $('login').hidden = false
  $('login-status').textContent = message
}
async function signIn (token) {
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token })
  })
  const answer = await response.json().catch(() => ({}))
  if (!response.ok || typeof answer.session !== 'string') {
    showLogin('Refused: that is not the token of this console.')
    return
  }
  sessionStorage.setItem(SESSION, answer.session)
  $('login').hidden = true
  await start()
}
async function post (path, body) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body)
  })
  return { ok: response.ok, answer: await response.json().catch(() => ({})) }
}
async function signInWithKey () {
  if (location.hostname !== 'localhost') {
    showLogin('Security keys work on http://localhost:' + location.port + '/ only: open the console there.')
    return
  }
  const offer = await post('/api/key-challenge', {})
  if (!offer.ok) {
    showLogin('Refused: ' + (offer.answer.message ?? 'no challenge'))
    return
  }
  $('login-status').textContent = 'Touch your security key…'
  let credential
  try {
    credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(offer.answer.options) })
  } catch (error) {
    showLogin('Not signed in: ' + (error instanceof Error ? error.message : String(error)))
    return
  }
  const login = await post('/api/key-login', { nonce: offer.answer.nonce, credential: credential.toJSON() })
  if (!login.ok || typeof login.answer.session !== 'string') {
    showLogin('Refused: ' + (login.answer.message ?? 'the key was not accepted'))
    return
  }
  sessionStorage.setItem(SESSION, login.answer.session)
  $('who').textContent = 'signed in as ' + login.answer.actor + ' (' + login.answer.role + ', security key)'
  $('login').hidden = true
  await start()
}
/** A time as the ledger holds it (ms since 1970, set by the writer): shown only when it is a date. */
function when (ms) {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? 'time ' + String(ms) + ' (not a date)' : date.toISOString()
}
/** A proof file, fetched with the session and saved under its name. */
async function download (feed, seq) {
  const response = await fetch('/api/proof?feed=' + encodeURIComponent(feed) + '&seq=' + seq, { headers: authorization() })
  if (!response.ok) throw new Error('the proof could not be made')
  const url = URL.createObjectURL(await response.blob())
  const link = document.createElement('a')
  link.href = url
  link.download = 'proof-' + feed.slice(0, 12) + '-' + seq + '.json'
  document.body.appendChild(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60000)
}
function render (o) {
  names = new Map(o.members.map((m) => [m.deviceId, m.hostname ?? short(m.deviceId)]))
  names.set(o.self.ownerFeed, 'the owner')
  $('self').textContent = (names.get(o.self.deviceId) ?? '') + ' ' + short(o.self.deviceId) + ' · fleet ' + o.self.fleetId.slice(0, 12)
  const alerts = document.createDocumentFragment()
  for (const a of o.alerts) {
    const li = document.createElement('li')
    li.dataset.type = a.type
    li.textContent = when(a.time) + '  ' + a.type + ' in the feed of ' + (names.get(a.feed) ?? short(a.feed)) + ' (entry ' + a.seq + '): ' + a.summary
    alerts.appendChild(li)
  }
  $('alerts').replaceChildren(alerts)
  $('alerts-section').hidden = o.alerts.length === 0
  fill('members', o.members, (row, m) => {
    row.dataset.device = m.deviceId
    row.dataset.standing = m.standing
    cell(row, short(m.deviceId), 'id').title = m.deviceId
    cell(row, m.hostname ?? '—')
    cell(row, m.role ?? '—')
    cell(row, m.tpm)
    cell(row, m.standing, 'standing')
    cell(row, m.online ? 'yes' : 'no')
  })
  fill('verdicts', o.verdicts, (row, v) => {
    row.dataset.peer = v.peerId
    row.dataset.device = v.deviceId ?? ''
    row.dataset.trusted = String(v.trusted)
    cell(row, short(v.deviceId ?? v.peerId), 'id').title = v.deviceId ?? v.peerId
    cell(row, v.hostname ?? '—')
    cell(row, v.trusted ? 'yes' : 'no' + (v.kind ? ' (' + v.kind + ')' : ''))
    const why = cell(row, '')
    const list = document.createElement('ul')
    list.className = 'reasons'
    for (const reason of v.reasons) {
      const li = document.createElement('li')
      li.textContent = reason
      list.appendChild(li)
    }
    why.appendChild(list)
    cell(row, short(v.policyId), 'id')
    cell(row, v.at)
  })
  fill('peers', o.peers, (row, p) => {
    cell(row, short(p.peerId), 'id').title = p.peerId
    cell(row, p.deviceId ? (names.get(p.deviceId) ?? short(p.deviceId)) : '—')
    cell(row, p.connections.map((c) => c.address + (c.relayed ? ' (relayed)' : '') + ' ' + c.direction).join('\\n'))
  })
  fill('feeds', o.feeds, (row, f) => {
    row.dataset.feed = f.feed
    cell(row, (names.get(f.feed) ?? short(f.feed)) + (f.own ? ' (this device)' : ''), 'id').title = f.feed
    cell(row, String(f.size))
    cell(row, String(f.sealed))
    cell(row, String(f.witnesses))
    const open = document.createElement('button')
    open.type = 'button'
    open.textContent = 'timeline'
    open.addEventListener('click', () => { void showTimeline(f.feed) })
    cell(row, '').appendChild(open)
  })
}
async function showTimeline (feed) {
  shownFeed = feed
  const started = performance.now()
  const t = await api('/api/feed?feed=' + encodeURIComponent(feed) + '&from=0&limit=5000')
  $('timeline-section').hidden = false
  $('timeline-title').textContent = 'Timeline of ' + (names.get(feed) ?? short(feed))
  // Each row cloned from one made once (cheaper than making its eight elements one by one).
  const model = document.createElement('div')
  model.className = 'row'
  for (let i = 0; i < 7; i++) model.appendChild(document.createElement('span'))
  const proofButton = document.createElement('button')
  proofButton.type = 'button'
  proofButton.className = 'proof'
  proofButton.textContent = 'proof'
  const rows = document.createDocumentFragment()
  for (const e of t.entries) {
    const row = model.cloneNode(true)
    row.dataset.seq = String(e.seq)
    const cells = row.children
    cells[0].textContent = String(e.seq)
    cells[1].textContent = when(e.time)
    cells[2].textContent = e.type
    cells[3].textContent = short(e.actor.slice(e.actor.indexOf('/') + 1)) + ' (' + e.role + ')'
    cells[3].title = e.actor
    cells[4].textContent = e.sealed ? 'yes' : 'not yet'
    cells[5].textContent = e.summary
    cells[5].title = e.summary
    if (e.sealed) cells[6].appendChild(proofButton.cloneNode(true))
    rows.appendChild(row)
  }
  $('timeline-rows').replaceChildren(rows)
  $('timeline-info').textContent = t.entries.length + ' of ' + t.size + ' entries (' + t.sealed + ' sealed)'
  // Drawn: the frame after the rows were laid out and painted.
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)))
  document.body.dataset.timelineMs = String(Math.round(performance.now() - started))
  document.body.dataset.timelineFeed = feed
}
async function refresh () {
  if (refreshing) { again = true; return }
  refreshing = true
  try {
    do {
      again = false
      render(await api('/api/overview'))
      if (shownFeed !== undefined) await showTimeline(shownFeed)
    } while (again)
    document.body.dataset.rendered = String(Date.now())
  } finally {
    refreshing = false
  }
}
/**
 * The live stream: server-sent events read from a fetch (it carries the session, as EventSource
 * cannot); each "change" asks for a refresh, at most one every 2 s. Reconnects after 2 s.
 */
let refreshDue
function changed () {
  refreshDue ??= setTimeout(() => {
    refreshDue = undefined
    void refresh().catch(() => undefined)
  }, 2000)
}
async function listen () {
  for (;;) {
    try {
      const response = await fetch('/api/events', { headers: authorization(), cache: 'no-store' })
      if (response.status === 401) return
      if (!response.ok || response.body === null) throw new Error(response.statusText)
      $('live').dataset.state = 'live'
      $('live').textContent = 'live'
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffered = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buffered += value
        let end
        while ((end = buffered.indexOf('\\n\\n')) >= 0) {
          const event = buffered.slice(0, end)
          buffered = buffered.slice(end + 2)
          if (/^event: change$/m.test(event)) changed()
        }
      }
    } catch {}
    $('live').dataset.state = 'lost'
    $('live').textContent = 'reconnecting…'
    await new Promise((resolve) => setTimeout(resolve, 2000))
  }
}
async function start () {
  $('main').hidden = false
  await refresh()
  void listen()
}
$('signin').addEventListener('click', () => { void signIn($('token').value) })
$('signin-key').addEventListener('click', () => { void signInWithKey() })
// One listener for every proof button of the timeline.
$('timeline-rows').addEventListener('click', (event) => {
  const button = event.target
  if (!(button instanceof HTMLButtonElement) || !button.classList.contains('proof')) return
  void download(shownFeed, Number(button.closest('.row').dataset.seq)).catch((error) => { button.textContent = error.message })
})
const fragment = new URLSearchParams(location.hash.slice(1))
if (fragment.has('token')) {
  const token = fragment.get('token')
  history.replaceState(null, '', location.pathname)
  void signIn(token)
} else {
  void start().catch(() => undefined)
}
`

export const CONSOLE_ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1b1f24"/><path d="M4 4h8v2H6v2h5v2H6v2H4z" fill="#7ee787"/></svg>
`
