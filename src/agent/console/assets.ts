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
<header><h1>fleet console</h1><span id="self"></span><span id="live" data-state="connecting">connecting…</span></header>
<section id="login" hidden>
  <h2>Sign in</h2>
  <p>Paste the token from <code>console.token</code> in the agent's state directory, or open the address <code>fleet console</code> prints.</p>
  <input id="token" type="password" autocomplete="off" aria-label="console token">
  <button id="signin" type="button">Sign in</button>
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
    <table id="timeline"><thead><tr><th>Seq</th><th>Time</th><th>Action</th><th>Actor</th><th>Sealed</th><th>Body</th><th>Proof</th></tr></thead><tbody></tbody></table>
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
async function api (path, init) {
  const response = await fetch(path, { credentials: 'same-origin', ...init })
  if (response.status === 401) {
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
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token })
  })
  if (!response.ok) {
    showLogin('Refused: that is not this console\\'s token.')
    return
  }
  $('login').hidden = true
  await start()
}
function render (o) {
  names = new Map(o.members.map((m) => [m.deviceId, m.hostname ?? short(m.deviceId)]))
  $('self').textContent = (names.get(o.self.deviceId) ?? '') + ' ' + short(o.self.deviceId) + ' · fleet ' + o.self.fleetId.slice(0, 12)
  const alerts = document.createDocumentFragment()
  for (const a of o.alerts) {
    const li = document.createElement('li')
    li.dataset.type = a.type
    li.textContent = new Date(a.time).toISOString() + '  ' + a.type + ' in the feed of ' + (names.get(a.feed) ?? short(a.feed)) + ' (entry ' + a.seq + '): ' + a.summary
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
  fill('timeline', t.entries, (row, e) => {
    row.dataset.seq = String(e.seq)
    cell(row, String(e.seq))
    cell(row, new Date(e.time).toISOString())
    cell(row, e.type)
    cell(row, e.actor + ' (' + e.role + ')')
    cell(row, e.sealed ? 'yes' : 'not yet')
    cell(row, e.summary)
    const proof = cell(row, '')
    if (e.sealed) {
      const link = document.createElement('a')
      link.href = '/api/proof?feed=' + encodeURIComponent(feed) + '&seq=' + e.seq
      link.download = 'proof-' + feed.slice(0, 12) + '-' + e.seq + '.json'
      link.textContent = 'proof'
      proof.appendChild(link)
    }
  })
  $('timeline-info').textContent = t.entries.length + ' of ' + t.size + ' entries (' + t.sealed + ' sealed)'
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
async function start () {
  $('main').hidden = false
  await refresh()
  const events = new EventSource('/api/events')
  events.addEventListener('open', () => { $('live').dataset.state = 'live'; $('live').textContent = 'live' })
  events.addEventListener('error', () => { $('live').dataset.state = 'lost'; $('live').textContent = 'reconnecting…' })
  events.addEventListener('change', () => { void refresh().catch(() => undefined) })
}
$('signin').addEventListener('click', () => { void signIn($('token').value) })
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
