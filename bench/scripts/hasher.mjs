// The ledger's two hashers on their own: the native binding's (nativeHasher) and node:crypto's
// (nodeCryptoHasher), entries/s of hashEntries for batches of 1 to 10,000 entries of ENTRY bytes
// (default 380, about what a 256-byte body encodes to) and pairs/s of hashPairs; warmed up, each
// timed for at least 300 ms. Build first (scripts/bootstrap.sh). Used for docs/benchmarks.md.
// Usage: node bench/scripts/hasher.mjs
import { nodeCryptoHasher } from '../../dist/src/ledger/index.js'
import { nativeHasher } from '../../dist/src/attest/index.js'

const { hashEntries: jsHashEntries, hashPairs: jsHashPairs } = nodeCryptoHasher
const nat = nativeHasher()
const ENTRY = Number(process.env.ENTRY ?? 380) // a 256-byte-body entry encodes to about this
/** `count` entries of ENTRY bytes, each after its 0x00 leaf prefix, `prev` at byte 40 of each. */
function make(count) {
  const buf = new Uint8Array(count * (ENTRY + 1))
  const spans = new Uint32Array(3 * count)
  for (let i = 0; i < count; i++) {
    const at = i * (ENTRY + 1)
    spans.set([at, at + 1 + ENTRY, at + 1 + 40], 3 * i)
    for (let j = 1; j <= ENTRY; j++) buf[at + j] = (i + j) & 0xff
  }
  return { buf, spans }
}

/** Entries/s of `hashEntries` over batches of `count`, for at least `minMs`. */
function time(hashEntries, count, minMs = 300) {
  const { buf, spans } = make(count)
  const head = new Uint8Array(32)
  const roots = new Uint8Array(64 * 32)
  const out = new Uint8Array(32 * count)
  const leaves = new Uint8Array(32 * count)
  let n = 0
  const t0 = performance.now()
  let t = 0
  do {
    hashEntries(buf, spans, count, head, 1000, roots.fill(0), out, leaves)
    n++
    t = performance.now() - t0
  } while (t < minMs)
  return (n * count) / (t / 1000)
}

/** Pairs/s of `hashPairs` over `count` pairs at a time, for at least `minMs`. */
function timePairs(hashPairs, count, minMs = 300) {
  const input = new Uint8Array(64 * count).map((_, i) => i)
  const out = new Uint8Array(32 * count)
  let n = 0
  const t0 = performance.now()
  let t = 0
  do {
    hashPairs(input, count, out)
    n++
    t = performance.now() - t0
  } while (t < minMs)
  return (n * count) / (t / 1000)
}

const sizes = [1, 10, 100, 1000, 2000, 10000]
for (const f of [nat.hashEntries, jsHashEntries]) for (const s of sizes) time(f, s, 50) // warm-up
const rows = []
for (const s of sizes) {
  const native = Math.round(time(nat.hashEntries, s))
  rows.push({ what: 'hashEntries', batch: s, native, js: Math.round(time(jsHashEntries, s)) })
}
for (const s of [8, 100, 1000]) {
  const native = Math.round(timePairs(nat.hashPairs, s))
  rows.push({ what: 'hashPairs', batch: s, native, js: Math.round(timePairs(jsHashPairs, s)) })
}
for (const r of rows) r.ratio = +(r.native / r.js).toFixed(2)
console.log(JSON.stringify(rows))
